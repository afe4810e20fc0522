"""The admin form for a new profile version: one plain-text field per profile field, so ops type
`DTM02: MM/DD/YY` instead of JSON. Text → `ProfileSettings` JSON and back; the service validates."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from suppliers.profiles.models import SupplierProfileVersion
from suppliers.profiles.settings import ProfileInvalid, ProfileSettings

TEXTAREA = forms.Textarea(attrs={"rows": 3, "cols": 60})


def _pairs(name: str, text: str, separator: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.splitlines():
        if line.strip():
            key, found, value = line.partition(separator)
            if not found:
                raise ProfileInvalid(name, f"{line.strip()!r}: write it as KEY {separator} VALUE")
            pairs.append((key.strip(), value.strip()))
    return pairs


class ProfileVersionForm(forms.ModelForm):
    """Saved through `supplier_profile_update` by the admin (never `form.save()` on its own)."""

    class Meta:
        model = SupplierProfileVersion
        fields = ["supplier", "document_type"]

    date_formats = forms.CharField(
        required=False,
        widget=TEXTAREA,
        help_text="One element per line: <code>DTM02: MM/DD/YY, MM/DD/CCYY</code>. Tokens CCYY, YY, MM, DD; "
        "two-digit years fall within 50 years before and 49 after the message arrived.",
    )
    unit_aliases = forms.CharField(
        required=False, widget=TEXTAREA, help_text="Their unit = ours, one per line: <code>CS = CA</code>."
    )
    unit_factors = forms.CharField(
        required=False,
        widget=TEXTAREA,
        help_text="Base units per unit, one per line: <code>IP = pack</code> (the item's pack size) or "
        "<code>BG = 25</code>.",
    )
    product_qualifiers = forms.CharField(
        required=False,
        help_text="Trusted product id qualifiers in order, e.g. <code>VP, BP, UP</code>; empty: BP, then the "
        "supplier part, then any other id.",
    )
    part_trim = forms.BooleanField(required=False, label="Trim part numbers")
    part_strip_leading_zeros = forms.BooleanField(required=False, label="Strip leading zeros of part numbers")
    part_uppercase = forms.BooleanField(required=False, label="Upper-case part numbers")
    qty_tolerance_pct = forms.DecimalField(required=False, min_value=0, max_value=1000, label="Quantity tolerance %")
    price_tolerance_pct = forms.DecimalField(required=False, min_value=0, max_value=1000, label="Price tolerance %")
    over_shipment_pct = forms.DecimalField(
        required=False, min_value=0, max_value=1000, label="Over-shipment tolerance %", help_text="Empty: no limit."
    )
    ignore = forms.CharField(
        required=False,
        widget=TEXTAREA,
        help_text="Known malformed segments, one per line: <code>REF REF01 | their ERP leaves it empty</code> "
        "(segment, optional element, optional note).",
    )
    note = forms.CharField(required=False, max_length=500, help_text="Why (shown in the history).")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        try:
            cleaned["settings"] = ProfileSettings.from_json(self._settings(cleaned)).to_json()
        except ProfileInvalid as exc:
            field = exc.fields.get("field")
            self.add_error(field if field in self.fields else None, exc.message)
        return cleaned

    def _settings(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        formats: dict[str, list[str]] = {}
        for element, patterns in _pairs("date_formats", cleaned.get("date_formats") or "", ":"):
            formats.setdefault(element, []).extend(p.strip() for p in patterns.split(",") if p.strip())
        factors: dict[str, Any] = {}
        for unit, factor in _pairs("unit_factors", cleaned.get("unit_factors") or "", "="):
            factors[unit] = int(factor) if factor.isdigit() else factor
        ignore = []
        for line in (cleaned.get("ignore") or "").splitlines():
            where, _, note = line.partition("|")
            parts = where.split()
            if parts:
                ignore.append(
                    {"segment": parts[0], "element": parts[1] if len(parts) > 1 else "", "note": note.strip()}
                )
        return {
            "date_formats": formats,
            "unit_aliases": dict(_pairs("unit_aliases", cleaned.get("unit_aliases") or "", "=")),
            "unit_factors": factors,
            "product_qualifiers": cleaned.get("product_qualifiers") or "",
            "part_number": {
                "trim": bool(cleaned.get("part_trim")),
                "strip_leading_zeros": bool(cleaned.get("part_strip_leading_zeros")),
                "uppercase": bool(cleaned.get("part_uppercase")),
            },
            "qty_tolerance_pct": cleaned.get("qty_tolerance_pct"),
            "price_tolerance_pct": cleaned.get("price_tolerance_pct"),
            "over_shipment_pct": cleaned.get("over_shipment_pct"),
            "ignore": ignore,
        }


def initial_from_settings(data: dict | None) -> dict[str, Any]:
    """The form's text fields for stored settings (to start a new version from the current one)."""
    settings = ProfileSettings.from_json(data)
    percent = {
        name: getattr(settings, name)
        for name in ("qty_tolerance_pct", "price_tolerance_pct", "over_shipment_pct")
        if getattr(settings, name) not in (None, Decimal(0))
    }
    return {
        "date_formats": "\n".join(f"{key}: {', '.join(value)}" for key, value in settings.date_formats.items()),
        "unit_aliases": "\n".join(f"{key} = {value}" for key, value in settings.unit_aliases.items()),
        "unit_factors": "\n".join(f"{key} = {value}" for key, value in settings.unit_factors.items()),
        "product_qualifiers": ", ".join(settings.product_qualifiers),
        "part_trim": settings.part_number.get("trim", False),
        "part_strip_leading_zeros": settings.part_number.get("strip_leading_zeros", False),
        "part_uppercase": settings.part_number.get("uppercase", False),
        "ignore": "\n".join(
            " ".join(p for p in (rule.segment, rule.element) if p) + (f" | {rule.note}" if rule.note else "")
            for rule in settings.ignore
        ),
        **percent,
    }
