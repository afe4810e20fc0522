"""Which profile field would fix a quarantine reason: the map the dashboard and the admin link by.

A reason code (the `code` of a stored problem) maps to the profile field ops change, so a quarantined
message links straight to that field of the supplier's profile for the document type, with the
element and value that failed. Reasons no profile field can fix (an unknown purchase order, a
duplicate) have no link; master data or the supplier has to change instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from suppliers.profiles.reading import profile_document_type

#: Syntax reasons carry their syntax as a prefix (`x12_invalid_date`, `edifact_invalid_date`).
SYNTAX_PREFIXES = ("x12_", "edifact_")
#: syntax reason (without the prefix) → (profile field, what to do there). Other syntax reasons
#: map to `ignore` (a known malformed segment), the field of last resort.
SYNTAX_FIELDS: dict[str, tuple[str, str]] = {
    "invalid_date": ("date_formats", "add the date pattern this supplier uses for the element"),
}
#: business reason code → (profile field, what to do there).
REASON_FIELDS: dict[str, tuple[str, str]] = {
    "unknown_unit": ("unit_aliases", "map the supplier's unit code to one of ours"),
    "fractional_quantity": ("unit_factors", "give the unit a factor (or 'pack') that yields whole base units"),
    "unknown_supplier_part": (
        "product_qualifiers",
        "trust another product qualifier or normalise part numbers (or add a supplier item)",
    ),
    "over_shipment": ("over_shipment_pct", "allow this supplier a larger over-shipment"),
}
#: Syntax reasons that a profile should not paper over: the message is not what it claims to be.
NOT_IGNORABLE = frozenset({"bad_isa", "not_x12", "empty", "truncated", "wrong_set", "bad_character"})
FIELD_LABELS = {
    "date_formats": "Date formats",
    "unit_aliases": "Unit aliases",
    "unit_factors": "Unit factors",
    "product_qualifiers": "Product qualifiers",
    "part_number": "Part-number rules",
    "qty_tolerance_pct": "Quantity tolerance",
    "price_tolerance_pct": "Price tolerance",
    "over_shipment_pct": "Over-shipment tolerance",
    "ignore": "Ignored segments",
}


@dataclass(frozen=True)
class ProfileFix:
    """Where to fix one problem: the supplier's profile for `document_type`, field `field`."""

    field: str
    hint: str
    document_type: str
    element: str | None = None
    segment: str | None = None
    value: str | None = None

    @property
    def label(self) -> str:
        where = f" ({self.element or self.segment})" if (self.element or self.segment) else ""
        return f"{self.document_type} profile → {FIELD_LABELS[self.field]}{where}"

    def admin_url(self, supplier_id: int) -> str:
        """The admin form for a new profile version, filled from the current one, this field in focus."""
        query = {"supplier": supplier_id, "document_type": self.document_type, "field": self.field}
        query.update({key: value for key, value in (("element", self.element), ("segment", self.segment)) if value})
        if self.value:
            query["value"] = self.value[:100]
        return f"{reverse('admin:suppliers_supplierprofileversion_add')}?{urlencode(query)}#field-{self.field}"


def fix_for(problem: dict, document_types: list[str]) -> ProfileFix | None:
    """The profile field that would fix a stored problem of a message with these document types."""
    document_type = next((t for t in map(profile_document_type, document_types or []) if t), None)
    code = problem.get("code") or ""
    if document_type is None:
        return None
    prefix = next((p for p in SYNTAX_PREFIXES if code.startswith(p)), None)
    reason = code[len(prefix) :] if prefix else None
    if code in REASON_FIELDS:
        field, hint = REASON_FIELDS[code]
    elif reason in SYNTAX_FIELDS:
        field, hint = SYNTAX_FIELDS[reason]
    elif reason and reason not in NOT_IGNORABLE and problem.get("segment"):
        field, hint = "ignore", "if the supplier always sends this segment so, ignore it (with a warning)"
    else:
        return None
    return ProfileFix(
        field=field,
        hint=hint,
        document_type=document_type,
        element=problem.get("element"),
        segment=problem.get("segment"),
        value=problem.get("value"),
    )
