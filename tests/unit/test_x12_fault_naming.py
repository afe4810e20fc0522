"""Every X12 syntax fault named by the element that holds it (issue 17 item 5), and the TA1 that answers an
interchange header: its note code (TA105) per fault, and its bytes."""

from __future__ import annotations

from datetime import datetime

import pytest

from suppliers.adapters.x12 import X12Error, build_997, build_ta1, map_856, read_interchange, read_isa, ta1_note
from tests.unit.test_x12_support import SHIP_NOTICE, isa, message, one_set

STAMP = datetime(2026, 1, 15, 12, 0)


def refused(raw: bytes) -> X12Error:
    with pytest.raises(X12Error) as caught:
        read_interchange(raw, strict=False)
    return caught.value


def isa_field(raw: bytes, index: int, value: str) -> bytes:
    """The interchange with ISA element ``index`` replaced (the ISA is re-split, so widths may change)."""
    text = raw.decode("utf-8")
    head, rest = text[:106], text[106:]
    fields = head[:-1].split("*")
    fields[index] = value
    return ("*".join(fields) + head[-1] + rest).encode("utf-8")


GOOD = one_set("856", SHIP_NOTICE)


def test_the_interchange_builder_reads():
    assert read_interchange(GOOD).control_number == "000000001"


@pytest.mark.parametrize(
    ("index", "value", "message", "note"),
    [
        (5, "Z", "ISA05 'Z' is not the sender's id qualifier (2 characters)", "005"),
        (6, " " * 15, "ISA06 is missing; expected the interchange sender id", "006"),
        (6, "SÜPPLIER".ljust(15), "ISA06 'SÜPPLIER' contains 'Ü', which is not printable ASCII", "006"),
        (7, "ZZZ", "ISA07 is 3 characters long; the receiver's id qualifier has at most 2", "007"),
        (
            8,
            "SCM>CORE".ljust(15),
            "ISA08 'SCM>CORE' contains '>', a delimiter of our acknowledgements, which could not echo it",
            "008",
        ),
        (9, "261340", "ISA09 '261340' is not a YYMMDD date", "014"),
        (10, "2561", "ISA10 '2561' is not an HHMM time", "015"),
        (12, "4010A", "ISA12 '4010A' is not an interchange control version number (5 digits)", "017"),
        (13, "00000000²", "ISA13 '00000000²' is not an interchange control number (up to 9 digits)", "018"),
        (14, "2", "ISA14 '2' is not an acknowledgment request (0 or 1)", "019"),
        (15, "X", "ISA15 'X' is not a usage indicator (P, T or I)", "020"),
    ],
)
def test_each_isa_fault_names_its_own_element_and_its_ta1_note(index, value, message, note):
    raw = isa_field(GOOD, index, value)
    error = refused(raw)
    assert (str(error), error.element) == (message, f"ISA{index:02d}")
    assert ta1_note(error) == note


def test_an_isa05_of_one_character_is_isa05_not_isa07():
    """Issue 17: reported as ISA07 (the 997 writer tripped over it when swapping sender and receiver)."""
    error = refused(isa_field(GOOD, 5, "Z"))
    assert (error.element, error.value, error.reason) == ("ISA05", "Z", "invalid_value")


def test_a_non_ascii_character_in_gs02_is_gs02_not_gs03():
    """Issue 17: reported as GS03 (the 997 writer's reply GS03 is the received GS02)."""
    raw = GOOD.replace(b"GS*SH*SUPPLIER*", "GS*SH*SÜPPLIER*".encode())
    error = refused(raw)
    assert (str(error), error.element, error.segment, error.group_control) == (
        "GS02 'SÜPPLIER' contains 'Ü', which is not printable ASCII",
        "GS02",
        "GS",
        "1",
    )
    assert ta1_note(error) == "024"


def test_a_5000_digit_sn102_is_named_not_an_internal_error():
    """Issue 17: Python's integer-string limit turned it into internal_error."""
    raw = one_set("856", [s.replace("SN1**10*EA", "SN1**" + "9" * 5000 + "*EA") for s in SHIP_NOTICE])
    [tset] = read_interchange(raw).transaction_sets()
    with pytest.raises(X12Error) as caught:
        map_856(tset)
    assert (str(caught.value), caught.value.element, caught.value.reason) == (
        "SN102 has 5000 digits; an X12 number has at most 18",
        "SN102",
        "too_long",
    )
    big = one_set("856", [s.replace("SN1**10*EA", "SN1**99999999999*EA") for s in SHIP_NOTICE])
    with pytest.raises(X12Error, match=r"^SN102 '99999999999' is too large: we read at most 9 digits before"):
        map_856(next(read_interchange(big).transaction_sets()))


@pytest.mark.parametrize(
    ("old", "new", "element", "message"),
    [
        (b"GS*SH*", b"GS*S1*", "GS01", "GS01 'S1' is not a functional identifier code (2 capitals)"),
        (b"*20260115*1230*1*X", b"*20260115*25XX*1*X", "GS05", "GS05 '25XX' is not an HHMM time"),
        (
            b"ST*856*0001",
            b"ST*856*00001234567",
            "ST02",
            "ST02 is 11 characters long; a transaction set control number has at most 9",
        ),
        (b"ST*856*0001", b"ST*85\xc2\xb2*0001", "ST01", "ST01 '85²' is not a transaction set identifier (3 digits)"),
        (b"*1*X*004010", b"*1\xc2\xb2*X*004010", "GS06", "GS06 '1²' is not a group control number (up to 9 digits)"),
    ],
)
def test_envelope_values_a_reply_echoes_are_checked_where_they_are(old, new, element, message):
    error = refused(GOOD.replace(old, new, 1))
    assert (str(error), error.element) == (message, element)


def test_counts_of_thousands_of_digits_are_count_errors():
    huge = "9" * 5000
    raw = GOOD.replace(b"GE*1*1~", f"GE*{huge}*{huge}~".encode())
    interchange = read_interchange(raw, strict=False)
    assert [(e.element, e.reason) for e in interchange.errors] == [
        ("GE01", "set_count"),
        ("GE02", "group_control_mismatch"),
    ]
    raw = GOOD.replace(b"IEA*1*", f"IEA*{huge}*".encode())
    assert [(e.element, e.reason) for e in read_interchange(raw, strict=False).errors] == [("IEA01", "group_count")]


@pytest.mark.parametrize(
    ("raw", "note"),
    [
        (GOOD[:50], "023"),  # the data ends inside the ISA
        (GOOD.replace(b"ISA*", b"ISAA", 1), "026"),  # no usable element separator
        (GOOD[:104] + b"*" + GOOD[105:], "027"),  # ISA16 is the element separator
        (GOOD[:105] + b"A" + GOOD[106:], "004"),  # the byte after ISA16 is a letter
        (GOOD[: GOOD.index(b"SE*")], "023"),  # truncated inside the set
        (GOOD.replace(b"GS*SH", b"XX*SH", 1), "022"),  # a segment outside any group
        (GOOD.replace(b"BSN*", b"BSN*\x01", 1), "024"),  # a control byte in the data
    ],
)
def test_ta1_note_codes_for_structural_faults(raw, note):
    assert ta1_note(refused(raw)) == note


def test_a_ta1_accepts_an_interchange_that_asks_for_one():
    interchange = read_interchange(isa_field(GOOD, 14, "1"))
    assert interchange.acknowledgment_requested and interchange.iea_matches
    body = build_ta1(interchange, acknowledgement="A", note="000", interchange_control=42, created_at=STAMP)
    assert body.decode().split("~\n") == [
        "ISA*00*          *00*          *ZZ*SCMCORE        *ZZ*SUPPLIER       *260115*1200*U*00401*000000042*0*P*>",
        "TA1*000000001*260115*1230*A*000",
        "IEA*0*000000042",
        "",
    ]


def test_a_ta1_rejects_a_broken_header_addressed_with_master_data_where_the_fault_is():
    raw = isa_field(GOOD, 5, "Z")
    error = refused(raw)
    header = read_isa(raw)
    assert (header.sender_qualifier, header.sender_id, header.control_number) == ("Z", "SUPPLIER", "000000001")
    body = build_ta1(
        header,
        acknowledgement="R",
        note=ta1_note(error),
        interchange_control=43,
        created_at=STAMP,
        sender=("ZZ", "SCMCORE"),
        receiver=("01", "SUPPLIER"),
    )
    isa_line, ta1, iea, _ = body.decode().split("~\n")
    assert isa_line.split("*")[5:9] == ["ZZ", "SCMCORE        ", "01", "SUPPLIER       "]
    assert (ta1, iea) == ("TA1*000000001*260115*1230*R*005", "IEA*0*000000043")
    assert read_isa(b"ISA") is None and read_isa(b"GS*") is None
    with pytest.raises(X12Error, match="the sender .* cannot be written back"):
        build_ta1(header, acknowledgement="R", note="005", interchange_control=44, created_at=STAMP)


def test_a_997_still_answers_every_readable_interchange_after_the_checks():
    interchange = read_interchange(message([("SH", "7", [("856", "0001", SHIP_NOTICE)])], sender="A1"))
    body = build_997(interchange, True, interchange_control=1, group_control=1, created_at=STAMP)
    assert b"AK1*SH*7~" in body and read_interchange(body).receiver_id == "A1"
    assert isa(sender="A1").startswith("ISA*00*")


def test_the_reader_refuses_exactly_the_delimiters_the_writers_use():
    from suppliers.adapters.x12 import values, writer

    assert values.REPLY_DELIMITERS == writer.ELEMENT + writer.COMPONENT + writer.TERMINATOR
