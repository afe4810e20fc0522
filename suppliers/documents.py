"""The canonical documents the services apply, whatever format they arrived in.

Adapters (X12, JSON, CSV) turn bytes into these; the services never see a segment or a CSV row.
They carry facts as sent (quantities as `Decimal` in the supplier's unit, product ids as given);
deciding what the facts mean (which SKU, how many base units, which PO line) is the services' job.

`Origin` says where in the message a document or line came from, so a business problem found later
can still name the X12 set and segment (for the 824) or the JSON path (for the quarantine reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Origin:
    """Where a fact sits in the raw message: X12 group/set control numbers and a readable path."""

    path: str = ""
    segment: str | None = None
    group_control: str | None = None
    set_control: str | None = None

    def child(self, step: str, *, segment: str | None = None) -> Origin:
        return Origin(
            path=f"{self.path}/{step}" if self.path else step,
            segment=segment or self.segment,
            group_control=self.group_control,
            set_control=self.set_control,
        )


@dataclass(frozen=True)
class Product:
    """How the supplier named an item: our SKU (X12 `BP`), its own part number (`VP`/`VN`), or other
    ids (`UP` UPC, `EN` EAN/ISBN, ...). Resolution order is documented in docs/SUPPLIERS.md."""

    sku: str | None = None
    supplier_part: str | None = None
    other_ids: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        parts = []
        if self.supplier_part:
            parts.append(f"supplier part {self.supplier_part!r}")
        parts += [f"{qualifier} {value!r}" for qualifier, value in self.other_ids.items()]
        if self.sku:
            parts.append(f"SKU {self.sku!r}")
        return ", ".join(parts) or "no product id"

    def value(self) -> str:
        """The most specific id, for error `value` fields."""
        return self.supplier_part or next(iter(self.other_ids.values()), None) or self.sku or ""


@dataclass(frozen=True)
class AckLineDoc:
    line_no: int | None
    product: Product
    status: str  # accepted | changed | rejected
    code: str  # the supplier's code (ACK01, or the JSON status)
    qty: Decimal | None
    unit: str | None
    unit_price: Decimal | None
    expected_date: date | None
    origin: Origin


@dataclass(frozen=True)
class PoAckDoc:
    """A purchase order acknowledgement (855 or JSON/CSV `po_ack`)."""

    po_number: str
    rejected: bool  # the whole order was rejected (BAK02 RD/RJ)
    ack_date: date | None
    expected_date: date | None
    lines: tuple[AckLineDoc, ...]
    origin: Origin
    kind: str = "po_ack"


@dataclass(frozen=True)
class ShipLineDoc:
    po_number: str | None
    line_no: int | None
    product: Product
    qty: Decimal
    unit: str | None
    pack: str | None
    origin: Origin


@dataclass(frozen=True)
class ShipNoticeDoc:
    """An advance ship notice (856 or JSON/CSV `asn`)."""

    number: str
    notice_date: date | None
    shipped_on: date | None
    expected_on: date | None
    carrier: str | None
    bill_of_lading: str | None
    lines: tuple[ShipLineDoc, ...]
    origin: Origin
    kind: str = "asn"


@dataclass(frozen=True)
class InvoiceLineDoc:
    line_no: int | None
    product: Product
    qty: Decimal | None
    unit: str | None
    unit_price: Decimal | None
    origin: Origin


@dataclass(frozen=True)
class InvoiceDoc:
    """A supplier invoice (810 or JSON/CSV `invoice`)."""

    number: str
    invoice_date: date
    po_number: str | None
    currency: str | None
    total: Decimal | None
    lines: tuple[InvoiceLineDoc, ...]
    origin: Origin
    kind: str = "invoice"
    charges: Decimal = Decimal(0)  # charges minus allowances, part of `total`


@dataclass(frozen=True)
class InventoryLineDoc:
    product: Product
    quantities: dict[str, Decimal]  # available, on_hold, backordered, on_order, ... (X12 QTY qualifiers mapped)
    unit: str | None
    origin: Origin


@dataclass(frozen=True)
class InventoryAdviceDoc:
    """What the supplier says it has (846 or JSON/CSV `inventory`)."""

    reference: str | None
    advice_date: date | None
    items: tuple[InventoryLineDoc, ...]
    origin: Origin
    kind: str = "inventory"


@dataclass(frozen=True)
class SetAckDoc:
    code: str
    control_number: str
    status: str


@dataclass(frozen=True)
class FunctionalAckDoc:
    """A 997 a supplier sent for one of our functional groups (e.g. the group of an 850 we sent)."""

    functional_id: str
    group_control: str
    status: str  # AK901: A accepted, E accepted with errors, P partially, R rejected
    sets: tuple[SetAckDoc, ...]
    origin: Origin
    kind: str = "functional_ack"

    @property
    def accepted(self) -> bool:
        return self.status in ("A", "E")


Document = PoAckDoc | ShipNoticeDoc | InvoiceDoc | InventoryAdviceDoc | FunctionalAckDoc


@dataclass
class ParsedMessage:
    """What an adapter read from one raw message: documents to apply, or problems that stop it.

    `identity_keys` name the message beyond its checksum (an X12 interchange: sender + ISA13; an EDIFACT
    one: sender + UNB05; a JSON document: supplier + type + number); the pipeline claims them when it
    applies the message, so a second copy with other bytes is still recognised as a duplicate.
    `interchange` and `syntax_errors` are kept for the replies (X12 997 and 824, EDIFACT CONTRL);
    `envelope` is the interchange header as far as it could be read (the X12 ISA, the EDIFACT UNA/UNB),
    also when the rest could not, so that a TA1 or CONTRL can still answer the sender.
    """

    format: str
    documents: list[Document] = field(default_factory=list)
    problems: list = field(default_factory=list)  # list[suppliers.exceptions.Problem]
    supplier_code: str | None = None
    sender_qualifier: str | None = None
    sender_id: str | None = None
    interchange_control: str | None = None
    document_types: list[str] = field(default_factory=list)
    identity_keys: list[str] = field(default_factory=list)
    interchange: object | None = None
    syntax_errors: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    envelope: object | None = None
