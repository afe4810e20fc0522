"""Canonical dataclasses the mappers produce: what a transaction set says, in Python types.

Every line-like record keeps ``ordinal``: the position in its transaction set of the segment that
carries its product IDs (PO1, IT1 or LIN), so a business problem found later (an unknown part number)
can still point at the segment in an 824 (TED03/TED04).

They carry facts, not decisions: quantities are ``Decimal`` as sent (services turn them into base
units), product IDs stay keyed by the supplier's qualifiers (``BP`` buyer's part = our SKU, ``VP``/``VN``
vendor's part, ``UP``/``UA`` UPC, ``EN`` EAN/ISBN, ...), codes stay codes. Dates are ``date`` objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal

#: ACK01 line status codes (855), for labels in admin and reasons; the mapper keeps the raw code.
ACK_STATUS_LABELS = {
    "AC": "item accepted and shipped",
    "AR": "item accepted and released for shipment",
    "BP": "item accepted, partial shipment, balance backordered",
    "DR": "item accepted, date rescheduled",
    "IA": "item accepted",
    "IB": "item backordered",
    "IC": "item accepted, changes made",
    "ID": "item deleted",
    "IE": "item accepted, price pending",
    "IF": "item on hold, incomplete description",
    "IH": "item on hold",
    "IP": "item accepted, price changed",
    "IQ": "item accepted, quantity changed",
    "IR": "item rejected",
    "IS": "item accepted, substitution made",
    "IW": "item on hold, waiver required",
    "R1": "item rejected, not a contract item",
    "R2": "item rejected, invalid item product number",
    "R3": "item rejected, invalid unit of issue",
    "R4": "item rejected, contract item not available",
    "R5": "item rejected, reorder item as a just in time order",
    "R6": "item rejected, reorder item as an extended delivery order",
    "R7": "item rejected, reorder item as a direct ship order",
    "R8": "item rejected, reorder item as a 'to be determined' order",
    "SP": "item accepted, schedule date pending",
}


@dataclass(frozen=True)
class Party:
    """An N1 loop: entity code (``ST`` ship-to, ``SU`` supplier, ...), name, id, address."""

    entity: str
    name: str | None = None
    id_qualifier: str | None = None
    id: str | None = None
    address: tuple[str, ...] = ()
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


# 855 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineAck:
    """An ACK segment: the supplier's status for (part of) a line, with quantity and date."""

    status: str
    quantity: Decimal | None
    unit: str | None
    date_qualifier: str | None
    date: date | None

    @property
    def label(self) -> str:
        return ACK_STATUS_LABELS.get(self.status, f"status {self.status}")


@dataclass(frozen=True)
class LineSchedule:
    """An SCH segment: a scheduled quantity and its date (qualifier ``002`` delivery requested, ...)."""

    quantity: Decimal | None
    unit: str | None
    date_qualifier: str | None
    date: date | None


@dataclass(frozen=True)
class AckLine:
    """A PO1 line of an 855 with its ACK statuses, SCH schedules and DTM dates."""

    line_number: str | None
    quantity: Decimal | None
    unit: str | None
    unit_price: Decimal | None
    price_basis: str | None
    product_ids: dict[str, str]
    description: str | None
    acks: tuple[LineAck, ...]
    schedules: tuple[LineSchedule, ...]
    dates: dict[str, date]
    ordinal: int = 0

    @property
    def status(self) -> str | None:
        """The first ACK01 code, or None when the supplier sent no line status."""
        return self.acks[0].status if self.acks else None


@dataclass(frozen=True)
class PurchaseOrderAck855:
    """An 855 purchase order acknowledgement.

    ``ack_type`` is BAK02: ``AC`` with detail and change, ``AD`` with detail no change, ``AE`` with
    exception detail only, ``AK`` no detail, ``AP`` product replenishment, ``RD`` rejected with detail,
    ``RJ`` rejected no detail. ``dates`` are header DTMs by qualifier (``067`` current schedule delivery,
    ``068`` current schedule ship, ...).
    """

    control_number: str
    purpose: str
    ack_type: str
    po_number: str
    po_date: date
    reference: str | None
    ack_date: date | None
    currency: str | None
    references: dict[str, str]
    dates: dict[str, date]
    parties: tuple[Party, ...]
    lines: tuple[AckLine, ...]
    line_count: int | None


# 856 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HierarchyLevel:
    """An HL segment: id, parent id (None at the root), level code (S, O, T, P, I, ...)."""

    hl_id: str
    parent_id: str | None
    level: str
    position: int


@dataclass(frozen=True)
class ShipOrder:
    """An order level (HL O) with its PRF purchase order reference."""

    hl_id: str
    parent_id: str | None
    po_number: str | None
    release: str | None
    po_date: date | None
    references: dict[str, str]


@dataclass(frozen=True)
class Mark:
    """A MAN marks-and-numbers segment (``GM`` = SSCC-18 carton label, ``CP`` carrier package id, ...)."""

    qualifier: str
    number: str


@dataclass(frozen=True)
class ShipPack:
    """A pack (HL P) or tare/pallet (HL T) level with its MAN marks."""

    hl_id: str
    parent_id: str | None
    level: str
    marks: tuple[Mark, ...]

    @property
    def sscc(self) -> str | None:
        return next((mark.number for mark in self.marks if mark.qualifier == "GM"), None)


@dataclass(frozen=True)
class ShipItem:
    """An item level (HL I): LIN product IDs, SN1 quantity shipped, and where it sits in the tree.

    ``order_hl_id``/``po_number`` come from the nearest order ancestor; ``pack_hl_id`` from the nearest
    pack or tare ancestor (None when items hang directly under the order).
    """

    hl_id: str
    parent_id: str | None
    line_number: str | None
    product_ids: dict[str, str]
    quantity: Decimal
    unit: str
    quantity_ordered: Decimal | None
    ordered_unit: str | None
    description: str | None
    dates: dict[str, date]
    order_hl_id: str | None
    po_number: str | None
    pack_hl_id: str | None
    ordinal: int = 0


@dataclass(frozen=True)
class ShipNotice856:
    """An 856 advance ship notice.

    ``shipped_on`` is DTM 011, ``expected_delivery_on`` DTM 017 (both from the shipment level or the
    header); ``carrier_code`` is TD503 (usually a SCAC), ``bill_of_lading`` REF BM.
    """

    control_number: str
    purpose: str
    shipment_id: str
    notice_date: date
    notice_time: time | None
    structure: str | None
    shipped_on: date | None
    expected_delivery_on: date | None
    dates: dict[str, date]
    carrier_qualifier: str | None
    carrier_code: str | None
    transport_method: str | None
    routing: str | None
    bill_of_lading: str | None
    references: dict[str, str]
    parties: tuple[Party, ...]
    hierarchy: tuple[HierarchyLevel, ...]
    orders: tuple[ShipOrder, ...]
    packs: tuple[ShipPack, ...]
    items: tuple[ShipItem, ...]
    line_count: int | None


# 810 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceLine:
    """An IT1 line of an 810."""

    line_number: str | None
    quantity: Decimal | None
    unit: str | None
    unit_price: Decimal | None
    price_basis: str | None
    product_ids: dict[str, str]
    description: str | None
    ordinal: int = 0


@dataclass(frozen=True)
class InvoiceCharge:
    """A SAC allowance (A) or charge (C) of an 810; ``amount`` is SAC05 read as N2."""

    indicator: str
    code: str | None
    amount: Decimal
    description: str | None


@dataclass(frozen=True)
class Invoice810:
    """An 810 invoice. ``total_amount`` is TDS01 read as N2 (two implied decimals: 36596 = 365.96).

    ``charges`` are the invoice's allowances and charges: the summary-level SACs (after TDS) when there
    are any, since they state the invoice's totals, otherwise the line-level ones (inside the IT1 loops).
    SAC01 ``N`` (no allowance or charge) is left out.
    """

    control_number: str
    invoice_date: date
    invoice_number: str
    po_date: date | None
    po_number: str | None
    transaction_type: str | None
    currency: str | None
    references: dict[str, str]
    dates: dict[str, date]
    parties: tuple[Party, ...]
    lines: tuple[InvoiceLine, ...]
    total_amount: Decimal | None
    line_count: int | None
    charges: tuple[InvoiceCharge, ...] = ()

    @property
    def net_charges(self) -> Decimal:
        """Charges minus allowances."""
        return sum((c.amount if c.indicator == "C" else -c.amount for c in self.charges), Decimal(0))


# 846 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InventoryQuantity:
    """A QTY segment with its unit (QTY03 or the UIT that follows it). Qualifier ``33``/``34``
    quantity available, ``QH`` on hold, ``QB`` backordered, ``87`` received, ``17`` on hand, ..."""

    qualifier: str
    quantity: Decimal | None
    unit: str | None


@dataclass(frozen=True)
class InventoryItem:
    """A LIN loop of an 846."""

    line_number: str | None
    product_ids: dict[str, str]
    description: str | None
    quantities: tuple[InventoryQuantity, ...]
    dates: dict[str, date]
    ordinal: int = 0

    def quantity(self, qualifier: str) -> Decimal | None:
        """The first quantity with that qualifier (None if absent)."""
        return next((q.quantity for q in self.quantities if q.qualifier == qualifier), None)


@dataclass(frozen=True)
class InventoryAdvice846:
    """An 846 inventory inquiry/advice (BIA header)."""

    control_number: str
    purpose: str
    report_type: str | None
    reference: str | None
    advice_date: date
    advice_time: time | None
    currency: str | None
    dates: dict[str, date]
    parties: tuple[Party, ...]
    items: tuple[InventoryItem, ...]


# 997 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ElementNote:
    """AK4: the element in error (position in segment), its error code and a copy of the bad value."""

    position: str
    reference: str | None
    code: str
    value: str | None


@dataclass(frozen=True)
class SegmentNote:
    """AK3: the segment in error (tag and position in the set), its error code and element notes."""

    segment: str
    ordinal: int | None
    loop: str | None
    code: str | None
    elements: tuple[ElementNote, ...]


@dataclass(frozen=True)
class SetAck:
    """AK2…AK5: the acknowledgement of one transaction set (``A`` accepted, ``E`` accepted with errors,
    ``R`` rejected, ...)."""

    code: str
    control_number: str
    status: str
    error_codes: tuple[str, ...]
    segments: tuple[SegmentNote, ...]

    @property
    def accepted(self) -> bool:
        return self.status in ("A", "E")


@dataclass(frozen=True)
class FunctionalAck997:
    """A 997: AK1 names the acknowledged group, AK2/AK5 each set, AK9 the group's outcome."""

    control_number: str
    functional_id: str
    group_control: str
    version: str | None
    sets: tuple[SetAck, ...]
    status: str
    sets_included: int
    sets_received: int
    sets_accepted: int
    error_codes: tuple[str, ...]

    @property
    def accepted(self) -> bool:
        """AK901 ``A`` or ``E``: the group was accepted (``P`` partially; ``R`` rejected)."""
        return self.status in ("A", "E")
