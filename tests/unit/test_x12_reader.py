"""The X12 reader: delimiters from ISA, layout tolerance, envelope checks, and precise errors."""

from __future__ import annotations

import pytest

from scm.errors import DomainError
from suppliers.adapters.x12 import X12Error, read_interchange
from tests.unit.test_x12_support import SHIP_NOTICE, isa, message, one_set

MULTI = [
    ("PR", "101", [("855", "0001", ["BAK*00*AD*PO-1*20260110"]), ("855", "0002", ["BAK*00*AC*PO-2*20260111"])]),
    ("SH", "102", [("856", "0003", SHIP_NOTICE)]),
]


def shape(raw: bytes) -> list[tuple[str, tuple[str, ...]]]:
    """Every segment's tag and elements, in order: what must not depend on the delimiters chosen."""
    interchange = read_interchange(raw)
    return [(s.tag, s.elements) for tset in interchange.transaction_sets() for s in tset.segments]


def test_multiple_groups_and_sets_become_a_tree_with_positions():
    raw = message(MULTI)
    interchange = read_interchange(raw)

    assert [g.functional_id for g in interchange.groups] == ["PR", "SH"]
    assert [g.control_number for g in interchange.groups] == ["101", "102"]
    assert [[t.control_number for t in g.transaction_sets] for g in interchange.groups] == [["0001", "0002"], ["0003"]]
    assert [t.code for t in interchange.transaction_sets()] == ["855", "855", "856"]
    assert [t.control_number for t in interchange.transaction_sets("856")] == ["0003"]
    assert interchange.sender_id == "SUPPLIER" and interchange.receiver_id == "SCMCORE"
    assert interchange.sender_qualifier == "ZZ"
    assert interchange.control_number == "000000001"
    assert interchange.version == "00401" and interchange.usage == "P"
    assert str(interchange.date) == "2026-01-15"
    assert str(interchange.groups[0].date) == "2026-01-15"
    assert interchange.warnings == () and interchange.errors == ()
    assert interchange.encoding == "ascii"

    asn = next(interchange.transaction_sets("856"))
    assert [s.ordinal for s in asn.segments] == list(range(1, len(SHIP_NOTICE) + 3))
    assert asn.st.tag == "ST" and asn.se.tag == "SE" and asn.body[0].tag == "BSN"
    for segment in asn.segments:
        assert raw[segment.offset : segment.offset + len(segment.tag)] == segment.tag.encode()
    lin = asn.segments[13]
    assert lin.tag == "LIN" and lin.get(3) == "SKU-1" and lin.get(4) == "" and lin.get(99) == ""
    assert lin.ref(3) == "LIN03"
    assert raw[lin.element_offset(7) :].startswith(b"SUP-1~")
    assert interchange.group_of(asn) is interchange.groups[1]
    assert interchange.isa.ordinal == 0 and interchange.groups[0].gs.ordinal == 0


@pytest.mark.parametrize(
    ("options", "expected_delimiters"),
    [
        ({"after": ""}, ("*", ">", "~")),
        ({"after": "\r\n"}, ("*", ">", "~")),
        ({"terminator": "\n", "after": ""}, ("*", ">", "\n")),
        ({"terminator": "\r", "after": "\n"}, ("*", ">", "\r")),
        ({"element": "~", "terminator": "}", "after": "\r\n", "indent": "    "}, ("~", ">", "}")),
        ({"element": "|", "component": "^", "terminator": "\x1c", "after": ""}, ("|", "^", "\x1c")),
        ({"element": "*", "component": ":", "terminator": "'", "after": "\n", "indent": "\t\t"}, ("*", ":", "'")),
    ],
    ids=["tilde", "tilde-crlf", "newline", "cr-lf", "brace-indented", "pipe-fs", "quote-tabs"],
)
def test_delimiter_variants_read_the_same_segments(options, expected_delimiters):
    raw = message(MULTI, **options)
    interchange = read_interchange(raw)
    d = interchange.delimiters
    assert (d.element, d.component, d.segment) == expected_delimiters
    assert shape(raw) == shape(message(MULTI))


def test_components_split_on_demand_with_the_declared_separator():
    raw = one_set("846", ["BIA*00*MM*R1*20260115", "LIN*1*BP*SKU-1", "QTY*33*5*CA^12"], component="^")
    qty = read_interchange(raw).groups[0].transaction_sets[0].body[2]
    assert qty.get(3) == "CA^12"
    assert qty.components(3) == ["CA", "12"]


def test_repetition_separator_only_from_version_00402_on():
    body = ["REF*ZZ*A^B"]
    newer = read_interchange(one_set("856", body, version="00403", repetition="^"))
    ref = newer.groups[0].transaction_sets[0].body[0]
    assert newer.delimiters.repetition == "^"
    assert ref.repetitions(2) == ["A", "B"]

    older = read_interchange(one_set("856", body, version="00401", repetition="U"))
    assert older.delimiters.repetition is None
    assert older.groups[0].transaction_sets[0].body[0].repetitions(2) == ["A^B"]

    wrong = read_interchange(one_set("856", body, version="00403", repetition="U"))
    assert wrong.delimiters.repetition is None
    assert [str(w) for w in wrong.warnings] == [
        "ISA11 'U' cannot be a repetition separator (version 00403); repetitions are not split"
    ]


def test_isa_not_padded_to_fixed_width_is_read_by_its_separators():
    header = "ISA*00* *00* *ZZ*SUPPLIER *ZZ*SCMCORE*260115*1230*U*00401*000000007*0*T*>~\n"
    raw = message(MULTI, control="000000007")
    raw = header.encode() + raw[raw.index(b"GS*") :]
    interchange = read_interchange(raw)
    assert interchange.sender_id == "SUPPLIER" and interchange.control_number == "000000007"
    assert interchange.usage == "T"
    assert [str(w) for w in interchange.warnings] == [
        "the ISA header is 74 bytes, not the fixed 106; it was read by its element separators"
    ]
    assert shape(raw) == shape(message(MULTI))


def test_leading_bom_whitespace_and_trailing_whitespace_after_iea_are_ignored():
    raw = b"\xef\xbb\xbf \r\n" + message(MULTI, after="\r\n") + b" \r\n\t\n"
    interchange = read_interchange(raw)
    assert interchange.isa.offset == 6
    assert interchange.warnings == ()
    assert shape(raw) == shape(message(MULTI))


def test_blank_lines_between_segments_with_newline_terminator_are_skipped():
    raw = message(MULTI, terminator="\n", after="\n")
    assert shape(raw) == shape(message(MULTI))


def test_trailing_space_after_a_terminator_and_indentation_before_tags():
    raw = message(MULTI, after=" \n", indent="\t  ")
    assert shape(raw) == shape(message(MULTI))


@pytest.mark.parametrize("ending", [b"", b"\r\n", b"\n \n"], ids=["bare", "crlf", "blank-lines"])
def test_iea_without_terminator_is_accepted_with_a_warning(ending):
    raw = message(MULTI, after="").rstrip(b"~") + ending
    interchange = read_interchange(raw)
    assert [str(w) for w in interchange.warnings] == ["IEA has no segment terminator"]
    assert interchange.iea.elements == ("2", "000000001")


def test_line_breaks_inside_a_segment_are_removed_with_a_warning():
    raw = message(MULTI, after="").replace(b"BAK*00*AD*PO-1", b"BAK*00*AD*P\r\nO-1")
    interchange = read_interchange(raw)
    bak = interchange.groups[0].transaction_sets[0].body[0]
    assert bak.get(3) == "PO-1"
    assert len(interchange.warnings) == 1
    assert str(interchange.warnings[0]).startswith("line breaks inside the segment at byte ")


def test_iea_control_number_mismatch_is_a_warning_not_an_error():
    raw = message(MULTI).replace(b"IEA*2*000000001", b"IEA*2*000000099")
    interchange = read_interchange(raw)
    assert [str(w) for w in interchange.warnings] == [
        "IEA02 '000000099' does not match ISA13 '000000001'; ISA13 identifies the interchange"
    ]
    assert interchange.control_number == "000000001"


def test_repeated_set_control_number_in_a_group_is_a_warning():
    groups = [("PR", "5", [("855", "0001", ["BAK*00*AD*PO-1*20260110"]), ("855", "0001", ["BAK*00*AD*PO-2*20260110"])])]
    interchange = read_interchange(message(groups))
    assert len(interchange.warnings) == 1
    assert "ST02 '0001'" in str(interchange.warnings[0]) and "repeats a control number in group 5" in str(
        interchange.warnings[0]
    )


# Decoding --------------------------------------------------------------------------------------


def test_utf8_text_is_decoded_and_offsets_stay_byte_offsets():
    raw = one_set("856", ["BSN*00*A1*20260115", "N1*ST*Müller Lager*92*WH-Ä", "REF*ZZ*x"])
    interchange = read_interchange(raw)
    tset = interchange.groups[0].transaction_sets[0]
    n1, ref = tset.body[1], tset.body[2]
    assert interchange.encoding == "utf-8"
    assert n1.get(2) == "Müller Lager" and n1.get(4) == "WH-Ä"
    assert raw[n1.element_offset(4) :].startswith("WH-Ä~".encode())
    assert raw[ref.offset : ref.offset + 3] == b"REF"


def test_latin1_bytes_do_not_crash_and_are_reported():
    raw = one_set("856", ["BSN*00*A1*20260115", "N1*ST*Mueller*92*WH"]).replace(b"Mueller", b"M\xfcller")
    interchange = read_interchange(raw)
    n1 = interchange.groups[0].transaction_sets[0].body[1]
    assert interchange.encoding == "latin-1"
    assert n1.get(2) == "Müller"
    offset = raw.index(b"\xfc")
    assert [str(w) for w in interchange.warnings] == [
        f"the message is not valid UTF-8 (byte 0xFC at offset {offset}); element text was decoded as latin-1"
    ]


def test_arbitrary_high_bytes_never_crash():
    raw = one_set("856", ["BSN*00*A1*20260115"]).replace(b"A1", bytes(range(0x80, 0x100)))
    interchange = read_interchange(raw)
    assert interchange.encoding == "latin-1"
    assert interchange.groups[0].transaction_sets[0].body[0].get(2) == bytes(range(0x80, 0x100)).decode("latin-1")


def test_control_bytes_are_refused_with_their_offset():
    raw = one_set("856", ["BSN*00*A\x001*20260115"])
    with pytest.raises(X12Error) as caught:
        read_interchange(raw)
    offset = raw.index(b"\x00")
    assert str(caught.value) == f"byte 0x00 at offset {offset} is a control character, not X12 data"
    assert caught.value.position == offset and caught.value.reason == "bad_character"


# Not X12 at all ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"   \r\n\t", b"\xef\xbb\xbf\n"], ids=["empty", "whitespace", "bom"])
def test_empty_body_is_an_error(raw):
    with pytest.raises(X12Error) as caught:
        read_interchange(raw)
    assert str(caught.value) == "the message is empty: there is no X12 data to read"
    assert caught.value.reason == "empty"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"UNA:+.? '\r\nUNB+UNOC:3+SENDER:14+RECEIVER:14+260115:1230+1'", "it starts with UNA, an EDIFACT header"),
        (b"UNB+UNOA:4+APPLICATION:1+COMPANY:1+051107:1159+6002'", "it starts with UNB, an EDIFACT header"),
        (b'{"ship_notice": 1}', "it must start with ISA, found '{\"ship_notice\": 1}'"),
        (b"\x89PNG\r\n\x1a\n", "it must start with ISA, found '\\x89PNG\\r\\n\\x1a\\n'"),
    ],
    ids=["edifact-una", "edifact-unb", "json", "binary"],
)
def test_non_x12_data_is_recognised(raw, expected):
    with pytest.raises(X12Error) as caught:
        read_interchange(raw)
    assert str(caught.value) == f"not an X12 interchange: {expected}"
    assert caught.value.reason == "not_x12"


# A broken ISA ----------------------------------------------------------------------------------


def test_isa_element_separator_cannot_be_alphanumeric():
    with pytest.raises(X12Error, match=r"^ISA byte 4 '0' cannot be the element separator$") as caught:
        read_interchange(b"ISA000000")
    assert caught.value.position == 3


def test_isa_with_missing_elements_is_refused():
    raw = b"ISA*00*          *00*          *ZZ*SUPPLIER       *ZZ*SCMCORE        *260115*1230~GS*PO*A*B~"
    with pytest.raises(X12Error) as caught:
        read_interchange(raw)
    assert (
        str(caught.value)
        == "the ISA header is incomplete: found 13 of 16 elements separated by '*' in its first 106 bytes"
    )
    assert caught.value.reason == "bad_isa" and caught.value.segment == "ISA"


def test_isa_cut_before_its_terminator_is_truncated():
    with pytest.raises(X12Error, match=r"^the ISA header is truncated: ISA16 and the segment terminator are missing$"):
        read_interchange(isa()[:-2].encode())


def test_isa16_followed_by_a_letter_is_refused():
    raw = isa()[:-1] + "X" + "GS*PO"
    with pytest.raises(X12Error) as caught:
        read_interchange(raw.encode())
    assert str(caught.value) == "the byte after ISA16, 'X', cannot be the segment terminator (found '>X')"
    assert (caught.value.element, caught.value.interchange_note) == ("ISA16", "004")


def test_isa_delimiters_must_differ():
    with pytest.raises(X12Error) as caught:
        read_interchange(isa(component="*").encode())
    assert str(caught.value) == "ISA16 '*' cannot be the sub-element separator (found '*~' after the 16th '*')"
    assert (caught.value.element, caught.value.interchange_note) == ("ISA16", "027")


def test_isa_control_number_must_be_digits():
    raw = message(MULTI).replace(b"*000000001*0*P", b"*00000000X*0*P")
    with pytest.raises(X12Error) as caught:
        read_interchange(raw)
    assert str(caught.value) == "ISA13 '00000000X' is not an interchange control number (up to 9 digits)"
    assert caught.value.element == "ISA13" and caught.value.position == raw.index(b"00000000X")


def test_isa_date_must_be_yymmdd():
    raw = message(MULTI).replace(b"*260115*1230*U", b"*261315*1230*U")
    with pytest.raises(X12Error, match=r"^ISA09 '261315' is not a YYMMDD date$"):
        read_interchange(raw)


def test_no_terminator_after_the_isa_header():
    raw = isa().encode() + b"GS*PO*SUPPLIER*SCMCORE*20260115*1230*1*X*004010\nST*850*0001\n"
    with pytest.raises(X12Error) as caught:
        read_interchange(raw)
    assert str(caught.value) == "no segment terminator '~' (declared after ISA16) follows the ISA header"


# Envelope structure ----------------------------------------------------------------------------


def test_truncated_inside_a_segment():
    raw = message(MULTI, after="")
    cut = raw[: raw.index(b"SN1**10*EA") + 7]
    with pytest.raises(X12Error) as caught:
        read_interchange(cut)
    offset = raw.index(b"SN1**10*EA")
    assert str(caught.value) == (
        f"the interchange is truncated: it ends inside segment 'SN1**10' at byte {offset}, "
        "with no terminator and no IEA"
    )
    assert caught.value.reason == "truncated" and caught.value.position == offset


def test_truncated_inside_a_set():
    raw = message(MULTI)
    cut = raw[: raw.index(b"SN1**10*EA~") + 11]
    with pytest.raises(X12Error) as caught:
        read_interchange(cut)
    st = raw.index(b"ST*856*0003")
    assert str(caught.value) == f"the interchange is truncated: set 0003 (ST at byte {st}) has no SE and no IEA follows"
    assert caught.value.set_control == "0003" and caught.value.group_control == "102"


def test_truncated_after_a_set():
    raw = message(MULTI)
    cut = raw[: raw.index(b"GE*1*102")]
    gs = raw.index(b"GS*SH")
    with pytest.raises(
        X12Error, match=rf"^the interchange is truncated: group 102 \(GS at byte {gs}\) has no GE and no IEA follows$"
    ):
        read_interchange(cut)


def test_truncated_before_iea():
    raw = message(MULTI)
    cut = raw[: raw.index(b"IEA")]
    ge = raw.index(b"GE*1*102")
    with pytest.raises(X12Error, match=rf"^the interchange is truncated: no IEA after the last segment \(byte {ge}\)$"):
        read_interchange(cut)


def test_missing_se_before_the_next_st():
    raw = message(MULTI).replace(b"SE*3*0001~\n", b"")
    st1, st2 = raw.index(b"ST*855*0001"), raw.index(b"ST*855*0002")
    with pytest.raises(X12Error) as caught:
        read_interchange(raw)
    assert str(caught.value) == f"set 0001 (ST at byte {st1}) has no SE: found ST at byte {st2}"
    assert caught.value.reason == "truncated" and caught.value.set_control == "0001"


def test_missing_ge_before_iea():
    raw = message(MULTI).replace(b"GE*1*102~\n", b"")
    gs, iea = raw.index(b"GS*SH"), raw.index(b"IEA")
    with pytest.raises(X12Error, match=rf"^group 102 \(GS at byte {gs}\) has no GE: found IEA at byte {iea}$"):
        read_interchange(raw)


def test_segment_between_gs_and_st_is_refused():
    raw = message(MULTI).replace(b"ST*855*0001", b"BAK*00*AD*PO-0*20260110~\nST*855*0001")
    offset = raw.index(b"BAK*00*AD*PO-0")
    with pytest.raises(X12Error) as caught:
        read_interchange(raw)
    assert (
        str(caught.value)
        == f"segment BAK at byte {offset} is outside a transaction set: expected ST or GE in group 101"
    )
    assert caught.value.reason == "bad_segment"


def test_segment_outside_any_group_is_refused():
    raw = message(MULTI).replace(b"IEA*", b"REF*ZZ*1~\nIEA*")
    offset = raw.index(b"REF*ZZ*1")
    with pytest.raises(
        X12Error, match=rf"^segment REF at byte {offset} is outside a functional group: expected GS or IEA$"
    ):
        read_interchange(raw)


def test_garbage_instead_of_a_segment_tag():
    raw = message(MULTI).replace(b"BAK*00*AC", b"bak*00*AC")
    offset = raw.index(b"bak*00*AC")
    with pytest.raises(X12Error) as caught:
        read_interchange(raw)
    assert str(caught.value) == f"'bak*00*AC*PO-2*20260…' at byte {offset} does not start with a segment tag"
    assert caught.value.position == offset


def test_non_whitespace_after_iea_is_refused():
    raw = message(MULTI) + b"thanks!"
    with pytest.raises(X12Error) as caught:
        read_interchange(raw)
    assert str(caught.value) == f"unexpected data after IEA at byte {len(raw) - 7}: 'thanks!'"
    assert caught.value.reason == "trailing_data"


def test_a_second_interchange_is_refused():
    first = message(MULTI)
    with pytest.raises(
        X12Error, match=rf"^a second interchange at byte {len(first)} follows IEA; a message carries one interchange$"
    ):
        read_interchange(first + message(MULTI))


def test_st01_must_be_a_transaction_set_identifier():
    raw = message(MULTI).replace(b"ST*856*0003", b"ST*ASN*0003")
    with pytest.raises(X12Error, match=r"^ST01 'ASN' is not a transaction set identifier \(3 digits\)$"):
        read_interchange(raw)


def test_gs06_must_be_a_number():
    raw = message(MULTI).replace(b"*1230*102*X", b"*1230*ABC*X")
    with pytest.raises(X12Error, match=r"^GS06 'ABC' is not a group control number \(up to 9 digits\)$"):
        read_interchange(raw)


# Control counts --------------------------------------------------------------------------------


def test_se01_segment_count_mismatch_names_value_count_and_set():
    raw = message(MULTI)
    good = f"SE*{len(SHIP_NOTICE) + 2}*0003".encode()
    raw = raw.replace(good, b"SE*12*0003")
    with pytest.raises(X12Error) as caught:
        read_interchange(raw)
    error = caught.value
    assert str(error) == f"SE01 '12' does not match the {len(SHIP_NOTICE) + 2} segments counted in set 0003"
    assert error.segment == "SE" and error.element == "SE01" and error.value == "12"
    assert error.position == raw.index(b"12*0003")
    assert error.ordinal == len(SHIP_NOTICE) + 2
    assert (error.set_control, error.group_control, error.reason) == ("0003", "102", "segment_count")
    assert isinstance(error, DomainError)
    assert error.fields == {
        "segment": "SE",
        "element": "SE01",
        "value": "12",
        "position": error.position,
        "ordinal": len(SHIP_NOTICE) + 2,
        "set_control": "0003",
        "group_control": "102",
        "reason": "segment_count",
    }


def test_se01_that_is_not_a_number():
    raw = message(MULTI).replace(b"SE*3*0001", b"SE*three*0001")
    with pytest.raises(X12Error, match=r"^SE01 'three' does not match the 3 segments counted in set 0001$"):
        read_interchange(raw)


def test_se02_must_repeat_st02():
    raw = message(MULTI).replace(b"SE*3*0002", b"SE*3*0009")
    with pytest.raises(X12Error) as caught:
        read_interchange(raw)
    assert str(caught.value) == "SE02 '0009' does not match ST02 '0002'"
    assert caught.value.reason == "set_control_mismatch" and caught.value.set_control == "0002"


def test_ge01_set_count_mismatch():
    raw = message(MULTI).replace(b"GE*2*101", b"GE*3*101")
    with pytest.raises(X12Error) as caught:
        read_interchange(raw)
    assert str(caught.value) == "GE01 '3' does not match the 2 transaction sets counted in group 101"
    assert caught.value.group_control == "101" and caught.value.set_control is None
    assert caught.value.reason == "set_count"


def test_ge02_must_repeat_gs06_numerically():
    assert read_interchange(message(MULTI).replace(b"GE*1*102", b"GE*1*0102")).groups[1].control_number == "102"
    raw = message(MULTI).replace(b"GE*1*102", b"GE*1*103")
    with pytest.raises(X12Error, match=r"^GE02 '103' does not match GS06 '102'$") as caught:
        read_interchange(raw)
    assert caught.value.reason == "group_control_mismatch"


def test_iea01_group_count_mismatch():
    raw = message(MULTI).replace(b"IEA*2*", b"IEA*1*")
    with pytest.raises(X12Error) as caught:
        read_interchange(raw)
    assert str(caught.value) == "IEA01 '1' does not match the 2 functional groups counted in interchange 000000001"
    assert caught.value.reason == "group_count"


def test_one_counted_thing_reads_in_the_singular():
    raw = one_set("856", ["BSN*00*A1*20260115"]).replace(b"GE*1*1", b"GE*2*1")
    with pytest.raises(X12Error, match=r"^GE01 '2' does not match the 1 transaction set counted in group 1$"):
        read_interchange(raw)


def test_lenient_read_collects_count_errors_instead_of_raising():
    raw = message(MULTI).replace(b"SE*3*0002", b"SE*4*0002").replace(b"GE*1*102", b"GE*5*102")
    interchange = read_interchange(raw, strict=False)
    assert [str(e) for e in interchange.errors] == [
        "SE01 '4' does not match the 3 segments counted in set 0002",
        "GE01 '5' does not match the 1 transaction set counted in group 102",
    ]
    assert [(e.group_control, e.set_control) for e in interchange.errors] == [("101", "0002"), ("102", None)]
    assert [t.control_number for t in interchange.transaction_sets()] == ["0001", "0002", "0003"]
    with pytest.raises(X12Error, match="SE01 '4'"):
        read_interchange(raw)


def test_lenient_read_still_raises_on_structural_damage():
    raw = message(MULTI).replace(b"SE*3*0001~\n", b"")
    with pytest.raises(X12Error, match="has no SE"):
        read_interchange(raw, strict=False)
