"""The 810 three-way match as a pure function: invoiced against ordered (agreed price) and received."""

from decimal import Decimal

from suppliers.apply.matching import InvoicedLine, LineInvoiced, OrderedLine, Tolerances, three_way_match
from suppliers.models import PO, MatchStatus

D = Decimal


def ordered(line_no=1, sku="BOLT", ordered=10, price="2.50", received=10, invoiced_before=0) -> OrderedLine:
    return OrderedLine(
        line_no=line_no,
        sku=sku,
        ordered=ordered,
        agreed_price=D(price),
        received=received,
        invoiced_before=invoiced_before,
    )


def match(invoiced, lines, *, total=None, charges="0", status=PO.RECEIVED, tolerances=None):
    return three_way_match(
        tolerances=tolerances or Tolerances(),
        invoiced=invoiced,
        ordered=lines,
        stated_total=None if total is None else D(total),
        charges=D(charges),
        order_number="PO-1",
        order_status=status,
    )


def test_an_invoice_for_what_was_ordered_and_received_at_the_agreed_price_matches():
    result = match([InvoicedLine(7, "BOLT", 10, D("2.50"))], {7: ordered()}, total="25.00")
    assert result.status == MatchStatus.MATCHED
    assert result.findings == []
    assert result.invoiced == {7: LineInvoiced(qty_total=10, amount=D("25.00"))}
    assert result.expected_total == D("25.00")
    assert result.payload() == {
        "status": MatchStatus.MATCHED,
        "lines": [
            {
                "line_no": 1,
                "sku": "BOLT",
                "ordered_qty": 10,
                "po_unit_price": "2.50",
                "received_qty": 10,
                "invoiced_qty": 10,
                "invoiced_qty_total": 10,
                "invoiced_unit_prices": ["2.50"],
                "matched": True,
                "findings": [],
            }
        ],
        "unmatched": [],
        "findings": [],
        "charges": "0.0000",
    }


def test_invoicing_more_than_received_or_ordered_counts_earlier_invoices():
    result = match([InvoicedLine(7, "BOLT", 4, D("2.50"))], {7: ordered(ordered=10, received=8, invoiced_before=7)})
    assert result.status == MatchStatus.MISMATCH
    assert result.findings == ["line 1 (BOLT): invoiced 11 but received 8", "line 1 (BOLT): invoiced 11 but ordered 10"]
    assert result.invoiced[7].qty_total == 11


def test_several_invoice_lines_for_one_order_line_add_up_and_each_price_is_checked():
    result = match(
        [
            InvoicedLine(7, "BOLT", 4, D("2.50")),
            InvoicedLine(7, "BOLT", 6, D("2.75")),
            InvoicedLine(7, "BOLT", 0, D("2.6")),
        ],
        {7: ordered(price="2.5")},
    )
    assert result.findings == ["line 1 (BOLT): price 2.6, 2.75 differs from PO price 2.5"]
    assert result.lines[0]["invoiced_qty"] == 10
    assert result.lines[0]["invoiced_unit_prices"] == ["2.50", "2.6", "2.75"]
    assert result.invoiced[7] == LineInvoiced(qty_total=10, amount=D("26.50"))


def test_a_price_equal_to_four_places_is_the_agreed_price():
    assert match([InvoicedLine(7, "BOLT", 10, D("2.50001"))], {7: ordered(price="2.5")}).findings == []


def test_a_sku_not_on_the_order_is_a_finding_and_counts_in_the_total():
    result = match([InvoicedLine(None, "NUT", 3, D("1.00"))], {7: ordered()}, total="3.00")
    assert result.unmatched == [{"sku": "NUT", "qty": 3, "unit_price": "1.00"}]
    assert result.findings == ["SKU NUT is not on purchase order PO-1"]
    assert result.invoiced == {}
    assert result.lines_total == D("3.00")


def test_the_stated_total_must_equal_the_lines_plus_charges_within_a_cent():
    line = [InvoicedLine(7, "BOLT", 10, D("2.50"))]
    assert match(line, {7: ordered()}, total="30.00", charges="5.00").findings == []
    assert match(line, {7: ordered()}, total="30.01", charges="5.00").findings == []
    assert match(line, {7: ordered()}, total="30.02", charges="5.00").findings == [
        "invoice total 30.02 differs from the lines' 25.0000 plus charges 5.0000"
    ]
    assert match(line, {7: ordered()}, total="24.00").findings == [
        "invoice total 24.00 differs from the lines' 25.0000"
    ]
    assert match(line, {7: ordered()}, charges="-1.5").expected_total == D("23.50")


def test_no_stated_total_is_not_a_finding():
    assert match([InvoicedLine(7, "BOLT", 10, D("2.50"))], {7: ordered()}, total=None).status == MatchStatus.MATCHED


def test_an_invoice_against_a_cancelled_or_draft_order_never_matches():
    line = [InvoicedLine(7, "BOLT", 10, D("2.50"))]
    assert match(line, {7: ordered()}, status=PO.CANCELLED).findings == ["purchase order PO-1 is CANCELLED"]
    assert match(line, {7: ordered()}, status=PO.DRAFT).status == MatchStatus.MISMATCH


def test_tolerances_from_the_profile_widen_quantity_and_price_by_a_percentage():
    tolerant = Tolerances(qty_pct=D("5"), price_pct=D("2"))
    line = [InvoicedLine(7, "BOLT", 105, D("2.55"))]
    assert match(line, {7: ordered(ordered=100, received=100, price="2.50")}).findings == [
        "line 1 (BOLT): invoiced 105 but received 100",
        "line 1 (BOLT): invoiced 105 but ordered 100",
        "line 1 (BOLT): price 2.55 differs from PO price 2.50",
    ]
    assert match(line, {7: ordered(ordered=100, received=100, price="2.50")}, tolerances=tolerant).findings == []
    over = [InvoicedLine(7, "BOLT", 106, D("2.56"))]
    assert match(over, {7: ordered(ordered=100, received=100, price="2.50")}, tolerances=tolerant).findings == [
        "line 1 (BOLT): invoiced 106 but received 100",
        "line 1 (BOLT): invoiced 106 but ordered 100",
        "line 1 (BOLT): price 2.56 differs from PO price 2.50",
    ]
