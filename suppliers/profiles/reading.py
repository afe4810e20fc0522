"""The one interface through which mappers (X12 and EDIFACT) and the apply layer read a supplier
profile: `MessageProfiles` for a message, `DocumentProfile` for one document type of it. No database
here; `suppliers.profiles.selectors.DatabaseProfiles` is where versions come from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from suppliers.profiles import dates
from suppliers.profiles.settings import PACK, IgnoreRule, ProfileSettings

#: Profiles exist per business document; each is addressed by its X12 code, EDIFACT name or feed kind.
DOCUMENT_TYPES = {
    "856": "Ship notice (X12 856, EDIFACT DESADV, feed asn)",
    "855": "PO acknowledgement (X12 855, EDIFACT ORDRSP, feed po_ack)",
    "810": "Invoice (X12 810, EDIFACT INVOIC, feed invoice)",
    "846": "Inventory advice (X12 846, EDIFACT INVRPT, feed inventory)",
}
_ALIASES = {
    "DESADV": "856",
    "ORDRSP": "855",
    "INVOIC": "810",
    "INVRPT": "846",
    "asn": "856",
    "po_ack": "855",
    "invoice": "810",
    "inventory": "846",
}
#: Qualifiers that name the supplier's own part number (X12 VP/VN/VA, EDIFACT SA), and ours (BP).
SUPPLIER_PART = frozenset({"VP", "VN", "VA", "SA"})
OUR_SKU = "BP"
#: How many malformed segments one document may have ignored before its error stands anyway.
MAX_IGNORED_SEGMENTS = 50

D = TypeVar("D")
T = TypeVar("T")


def profile_document_type(code: str) -> str | None:
    """`856`, `DESADV` or `asn` → `856`; None for documents profiles do not cover (997, 824, ...)."""
    if code in DOCUMENT_TYPES:
        return code
    return _ALIASES.get(code) or _ALIASES.get(code.upper())


class ProfileSource(Protocol):
    """Where versions come from (the database in production, a dict in unit tests)."""

    def supplier_for_sender(self, qualifier: str | None, sender_id: str, syntax: str = "x12") -> int | None: ...

    def current(self, supplier_id: int, document_type: str) -> tuple[int, dict] | None: ...


@dataclass(eq=False)
class DocumentProfile:
    """One profile version (or the defaults, `version` None) for one document type of one message."""

    document_type: str
    version: int | None
    settings: ProfileSettings
    received_on: date
    warnings: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.document_type} profile v{self.version}" if self.version else "no profile (defaults)"

    # --- mapping layer ------------------------------------------------------------------------

    def parse_date(self, element: str, value: str) -> date | None:
        """The date `value` of `element` (e.g. DTM02) in one of the profile's accepted patterns for
        that element, or None: the mapper then raises its own precise error for the standard format."""
        for pattern in self.settings.date_formats.get(element.upper(), ()):
            parsed = dates.parse(value, pattern, received_on=self.received_on)
            if parsed is not None:
                return parsed
        return None

    def ignore_rule(self, segment: str | None, element: str | None) -> IgnoreRule | None:
        """The override that lets a syntax error in this segment/element pass, if the profile has one."""
        return next((rule for rule in self.settings.ignore if rule.covers(segment, element)), None)

    def record_ignored(self, rule: IgnoreRule, what: str) -> None:
        """Note on the message that a malformed segment was dropped under this profile."""
        note = f" ({rule.note})" if rule.note else ""
        self.warnings.append(f"{what}: segment ignored under {self.label}{note}")

    def map_tolerating(
        self,
        mapper: Callable[[D], T],
        document: D,
        *,
        errors: tuple[type[Exception], ...],
        without: Callable[[D, Any], tuple[D, str] | None],
    ) -> T:
        """`mapper(document)`, where a syntax error (`errors`, carrying `.segment` and `.element`) in a
        segment this profile ignores drops that segment and maps again. `without(document, error)`
        returns the document with the failing segment blanked and a description of it (None when it
        cannot be located: the error stands). Every dropped segment is a warning on the message."""
        for _ in range(MAX_IGNORED_SEGMENTS):
            try:
                return mapper(document)
            except errors as error:
                rule = self.ignore_rule(getattr(error, "segment", None), getattr(error, "element", None))
                blanked = without(document, error) if rule is not None else None
                if blanked is None:
                    raise
                document, what = blanked
                self.record_ignored(rule, what)
        return mapper(document)

    # --- apply layer --------------------------------------------------------------------------

    def product_candidates(self, sku: str | None, supplier_part: str | None, others: Mapping[str, str]):
        """(qualifier, value) pairs to try, in the profile's trusted order; None means the default order."""
        if not self.settings.product_qualifiers:
            return None
        found = []
        for qualifier in self.settings.product_qualifiers:
            if qualifier == OUR_SKU:
                value = sku
            elif qualifier in SUPPLIER_PART:
                value = others.get(qualifier) or supplier_part
            else:
                value = others.get(qualifier)
            if value:
                found.append((qualifier, self.normalise_part(value)))
        return found

    @property
    def normalises_parts(self) -> bool:
        return bool(self.settings.part_number)

    def normalise_part(self, value: str) -> str:
        rules = self.settings.part_number
        if rules.get("trim"):
            value = value.strip()
        if rules.get("strip_leading_zeros"):
            value = value.lstrip("0") or "0"
        if rules.get("uppercase"):
            value = value.upper()
        return value

    def unit_code(self, code: str) -> str:
        """The supplier's unit code as ours (e.g. CS → CA, PCE → EA)."""
        return self.settings.unit_aliases.get(code, code)

    def unit_factor(self, code: str) -> int | str | None:
        """Base units per unit from the profile: a number, PACK (the item's pack size), or None."""
        return self.settings.unit_factors.get(code)

    @property
    def qty_tolerance(self) -> Decimal:
        return self.settings.qty_tolerance_pct

    @property
    def price_tolerance(self) -> Decimal:
        return self.settings.price_tolerance_pct

    @property
    def over_shipment(self) -> Decimal | None:
        return self.settings.over_shipment_pct


#: The profile of a document read without one (tools, tests): the strict defaults. Never records
#: warnings (it ignores nothing).
NO_PROFILE = DocumentProfile(document_type="", version=None, settings=ProfileSettings(), received_on=date(2000, 1, 1))


class MessageProfiles:
    """The profiles in force for one message, read once: mapping and applying see the same versions.

    Adapters call `identify_sender` once they know the interchange sender, then `document(code)` per
    document; the pipeline calls `bind_supplier` once it knows who sent the message. `versions()` is
    what the message records; `warnings` what the profiles let pass.
    """

    def __init__(self, *, source: ProfileSource | None, received_on: date, supplier_id: int | None = None) -> None:
        self.source = source
        self.received_on = received_on
        self.supplier_id = supplier_id
        self.warnings: list[str] = []
        self._documents: dict[str, DocumentProfile] = {}

    def identify_sender(self, qualifier: str | None, sender_id: str | None, *, syntax: str = "x12") -> None:
        """The interchange sender (X12 ISA06, EDIFACT UNB02-1) names the supplier whose profiles apply."""
        if self.source is None or not sender_id:
            return
        found = self.source.supplier_for_sender(qualifier, sender_id, syntax)
        if found is not None:
            self.bind_supplier(found)

    def bind_supplier(self, supplier_id: int | None) -> None:
        if supplier_id != self.supplier_id:
            self.supplier_id = supplier_id
            self._documents.clear()

    def document(self, code: str) -> DocumentProfile:
        """The profile for a document (X12 code, EDIFACT name or feed kind); defaults when none."""
        document_type = profile_document_type(code) or code
        found = self._documents.get(document_type)
        if found is None:
            current = None
            if self.source is not None and self.supplier_id is not None and document_type in DOCUMENT_TYPES:
                current = self.source.current(self.supplier_id, document_type)
            version, data = current if current else (None, None)
            found = DocumentProfile(
                document_type=document_type,
                version=version,
                settings=ProfileSettings.from_json(data),
                received_on=self.received_on,
                warnings=self.warnings,
            )
            self._documents[document_type] = found
        return found

    def versions(self) -> dict[str, int]:
        """{document type: version} of the profiles this message was read and applied under."""
        return {key: doc.version for key, doc in sorted(self._documents.items()) if doc.version}


def defaults(received_on: date | None = None) -> MessageProfiles:
    """No profile at all: what a mapper uses when called without one (tests, tools)."""
    return MessageProfiles(source=None, received_on=received_on or date.today())


__all__ = [
    "DOCUMENT_TYPES",
    "PACK",
    "DocumentProfile",
    "NO_PROFILE",
    "MessageProfiles",
    "ProfileSource",
    "defaults",
    "profile_document_type",
]
