"""Builders shared by the suppliers tests: master data through the real services, and X12 interchanges
written segment by segment with correct envelope counts (so each test can break exactly one thing)."""

from __future__ import annotations

from datetime import date

import pytest

from suppliers.models import PurchaseOrder, Supplier
from tests.factories import ItemFactory, LocationFactory, PurchaseOrderFactory, SupplierFactory

FUNCTIONAL_IDS = {"855": "PR", "856": "SH", "810": "IN", "846": "IB", "997": "FA", "850": "PO"}


def make_supplier(unique: str, **fields) -> Supplier:
    defaults = {"code": f"SUP-{unique}", "name": f"Supplier {unique}", "isa_id": f"S{unique}"[:15]}
    return SupplierFactory(**{**defaults, **fields})


def make_order(
    unique: str,
    supplier: Supplier,
    lines: list[tuple[str, int, str]],
    *,
    number: str | None = None,
    destination: str | None = None,
    send: bool = True,
) -> PurchaseOrder:
    """A purchase order (sent unless told otherwise) with lines (sku, qty, unit_price)."""
    return PurchaseOrderFactory(
        number=number or f"PO-{unique}",
        supplier=supplier,
        destination=destination or LocationFactory(code=f"DC-{unique}"),
        lines=[{"sku": sku, "qty": qty, "unit_price": price} for sku, qty, price in lines],
        send=send,
    )


def item(sku: str):
    return ItemFactory(sku=sku)


def interchange(
    sender: str,
    control: int,
    sets: list[tuple[str, list[str]]],
    *,
    qualifier: str = "ZZ",
    receiver: str = "SCMCORE",
    group_control: int = 1,
    se_count_delta: int = 0,
    terminator: str = "~\n",
    truncate_after: str | None = None,
) -> bytes:
    """An X12 interchange: one group holding `sets` [(ST01, body segments without ST/SE)], counts right
    unless `se_count_delta` says how wrong SE01 should be; `truncate_after` cuts the text there."""
    code = sets[0][0]
    segments = [
        f"ISA*00*          *00*          *{qualifier}*{sender:<15}*ZZ*{receiver:<15}*260115*1200*U*00401*"
        f"{control:09d}*0*P*>",
        f"GS*{FUNCTIONAL_IDS.get(code, 'SH')}*{sender}*{receiver}*20260115*1200*{group_control}*X*004010",
    ]
    for index, (set_code, body) in enumerate(sets, start=1):
        st_control = f"{index:04d}"
        segments.append(f"ST*{set_code}*{st_control}")
        segments.extend(body)
        segments.append(f"SE*{len(body) + 2 + se_count_delta}*{st_control}")
    segments.append(f"GE*{len(sets)}*{group_control}")
    segments.append(f"IEA*1*{control:09d}")
    text = terminator.join(segments) + terminator
    if truncate_after is not None:
        text = text[: text.index(truncate_after) + len(truncate_after)]
    return text.encode("ascii")


def asn_body(
    shipment_id: str,
    po_number: str,
    items: list[tuple[str, str, int]],
    *,
    shipped: str = "20260115",
    delivery: str | None = "20260120",
    qualifier: str = "VP",
) -> list[str]:
    """An 856 body: shipment → order → items [(LIN01 line number, supplier part, quantity)]."""
    body = [f"BSN*00*{shipment_id}*20260115*1200*0001", "HL*1**S", f"DTM*011*{shipped}"]
    if delivery:
        body.append(f"DTM*017*{delivery}")
    body += ["HL*2*1*O", f"PRF*{po_number}"]
    for index, (line_no, part, qty) in enumerate(items, start=3):
        body += [f"HL*{index}*2*I", f"LIN*{line_no}*{qualifier}*{part}", f"SN1**{qty}*EA"]
    body.append(f"CTT*{len(items)}")
    return body


@pytest.mark.django_db
def test_interchange_builder_writes_readable_counts(unique):
    from suppliers.adapters.x12 import read_interchange

    raw = interchange("SENDER1", 7, [("856", asn_body("SHIP-1", "PO-1", [("1", "P-1", 5)]))])
    parsed = read_interchange(raw)
    tset = next(parsed.transaction_sets("856"))
    assert parsed.control_number == "000000007"
    assert tset.se.get(1) == str(len(tset.segments))
    assert date(2026, 1, 15) == parsed.groups[0].date
