"""The raw supplier message on the dashboard: escaped, readable, with the failing part marked."""

from __future__ import annotations

from dashboard.highlight import DISPLAY_LIMIT, highlight_message

ISA = b"ISA*00*          *00*          *ZZ*SUP01          *ZZ*SCMCORE        *260115*1200*U*00401*000000001*0*P*>~"
X12 = ISA + b"GS*SH*SUP01*SCMCORE*20260115*1200*1*X*004010~ST*856*0001~DTM*011*20260115~DTM*017*11/28/26~SE*4*0001~"


def test_isa_is_106_bytes_so_the_terminator_is_read_from_the_header():
    assert len(ISA) == 106 and ISA[105:106] == b"~"


def test_the_segment_holding_the_error_position_is_marked_and_segments_get_line_breaks():
    position = X12.index(b"11/28/26")
    shown = highlight_message(X12, [{"message": "DTM02 '11/28/26' is not a CCYYMMDD date", "position": position}])
    assert shown.marked == 1
    assert shown.html.splitlines()[-2] == (
        '<mark class="bad" title="DTM02 &#x27;11/28/26&#x27; is not a CCYYMMDD date">DTM*017*11/28/26~</mark>'
    )
    assert shown.html.splitlines()[0] == ISA.decode().replace(">", "&gt;")
    assert len(shown.html.splitlines()) == 6


def test_without_a_position_the_segment_with_that_tag_and_value_is_marked():
    shown = highlight_message(X12, [{"message": "bad date", "segment": "DTM", "value": "11/28/26"}])
    assert '<mark class="bad" title="bad date">DTM*017*11/28/26~</mark>' in shown.html
    first = highlight_message(X12, [{"message": "no value", "segment": "DTM"}])
    assert '<mark class="bad" title="no value">DTM*011*20260115~</mark>' in first.html


def test_markup_in_the_message_is_escaped_and_bytes_that_are_not_text_are_shown_as_hex():
    body = b'{"note": "<script>alert(1)</script>", "qty": "five", "raw": "\xff\x1d"}'
    shown = highlight_message(body, [{"message": "qty <b>five</b> is not a number", "value": "five"}])
    assert shown.html == (
        "{&quot;note&quot;: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;, &quot;qty&quot;: &quot;"
        '<mark class="bad" title="qty &lt;b&gt;five&lt;/b&gt; is not a number">five</mark>'
        "&quot;, &quot;raw&quot;: &quot;\\xff\\x1d&quot;}"
    )


def test_a_csv_line_or_a_json_value_is_marked():
    csv = b"document,po,line,qty\nasn,PO-1,1,5\nasn,PO-1,2,five\n"
    shown = highlight_message(csv, [{"message": "qty 'five' is not a number", "line": 3}])
    assert '<mark class="bad" title="qty &#x27;five&#x27; is not a number">asn,PO-1,2,five</mark>' in shown.html
    body = b'{"po_number": "PO-9", "lines": [{"expected_date": "28.11.2026"}]}'
    shown = highlight_message(
        body, [{"message": "not a date", "path": "$.lines[0].expected_date", "value": "28.11.2026"}]
    )
    assert '<mark class="bad" title="not a date">28.11.2026</mark>' in shown.html


def test_nothing_is_marked_when_the_error_names_no_place_and_big_bodies_are_cut_for_display():
    shown = highlight_message(b"garbage", [{"message": "not X12", "code": "not_x12"}])
    assert (shown.html, shown.marked, shown.truncated) == ("garbage", 0, False)
    big = highlight_message(b"a" * (DISPLAY_LIMIT + 10), [])
    assert big.truncated and big.size == DISPLAY_LIMIT + 10 and len(big.html) == DISPLAY_LIMIT
