"""The EDIFACT reader: service characters (UNA or defaults), release characters, repetitions, charsets, byte
offsets, and every envelope fault named by segment and element with its exact reason."""

from __future__ import annotations

import pytest

from suppliers.adapters.edifact import EdifactError, read_header, read_interchange

UNB = "UNB+UNOC:3+5412345000013:14+SCMCORE:14+260115:1200+77"
DESADV = ["UNH+1+DESADV:D:96A:UN:EAN005", "BGM+351+DN-1+9", "QTY+12:4", "UNT+4+1"]


def edi(*segments: str, una: str | None = ":+.? '", terminator: str = "'", tail: str = "UNZ+1+77") -> bytes:
    text = terminator.join([*segments, tail]) + terminator if tail else terminator.join(segments) + terminator
    return ((f"UNA{una}" if una is not None else "") + text).encode("latin-1")


def read(*segments: str, strict: bool = True, **kwargs):
    return read_interchange(edi(*segments, **kwargs), strict=strict)


def refused(raw: bytes, **kwargs) -> EdifactError:
    with pytest.raises(EdifactError) as caught:
        read_interchange(raw, **kwargs)
    return caught.value


def test_a_simple_interchange_reads_into_messages_with_ordinals_and_byte_offsets():
    raw = edi(UNB, *DESADV)
    interchange = read_interchange(raw)
    [message] = interchange.messages
    assert (interchange.sender_id, interchange.sender_qualifier, interchange.recipient_id) == (
        "5412345000013",
        "14",
        "SCMCORE",
    )
    assert (interchange.control_reference, interchange.header.syntax_version, interchange.header.charset) == (
        "77",
        "3",
        "latin-1",
    )
    assert (message.reference, message.type, message.version, message.release, message.association) == (
        "1",
        "DESADV",
        "D",
        "96A",
        "EAN005",
    )
    assert [(s.tag, s.ordinal) for s in message.segments] == [("UNH", 1), ("BGM", 2), ("QTY", 3), ("UNT", 4)]
    qty = message.segments[2]
    assert raw[qty.offset : qty.offset + 3] == b"QTY"
    assert raw[qty.element_offset(1, 2) : qty.element_offset(1, 2) + 1] == b"4"
    assert (qty.get(1, 1), qty.get(1, 2), qty.get(1, 3), qty.get(2)) == ("12", "4", "", "")
    assert interchange.warnings == () and interchange.errors == ()


def test_any_una_is_honoured_with_its_release_character():
    raw = (
        "UNA|*,\\ ~UNB*UNOC|3*S|14*R*260115|1200*9~UNH*1*DESADV|D|96A|UN~FTX*AAA***a\\*b\\|c\\~d\\\\e~UNT*3*1~UNZ*1*9~"
    )
    interchange = read_interchange(raw.encode())
    ftx = interchange.messages[0].segments[1]
    assert ftx.get(4) == "a*b|c~d\\e"
    assert interchange.header.chars.decimal == ","


def test_release_characters_in_the_default_set():
    interchange = read(UNB, "UNH+1+DESADV:D:96A:UN", "FTX+AAA+++it?'s 5?+3?:1 ??", "UNT+3+1")
    assert interchange.messages[0].segments[1].get(4) == "it's 5+3:1 ?"


def test_a_release_character_that_releases_nothing_is_kept_with_a_warning():
    interchange = read(UNB, "UNH+1+DESADV:D:96A:UN", "FTX+AAA+++what?x", "UNT+3+1")
    assert interchange.messages[0].segments[1].get(4) == "what?x"
    [warning] = interchange.warnings
    assert "precedes 'x', which is no service character; both were kept as data" in str(warning)


def test_without_una_the_defaults_apply_and_syntax_4_splits_repetitions():
    raw = edi(
        "UNB+UNOA:4+APPLICATION:1+COMPANY:1+20051107:1159+6002",
        "UNH+SSDD1+ORDERS:D:03B:UN:EAN008",
        "COM+str11:str12*str21:str22",
        "UNT+3+SSDD1",
        una=None,
        tail="UNZ+1+6002",
    )
    interchange = read_interchange(raw)
    com = interchange.messages[0].segments[1]
    assert com.repetitions(1) == (("str11", "str12"), ("str21", "str22"))
    assert com.get(1, 2) == "str12"
    assert interchange.header.chars.repetition == "*"


def test_una5_before_syntax_4_is_no_repetition_separator():
    interchange = read(UNB, "UNH+1+DESADV:D:96A:UN", "FTX+AAA+++a*b", "UNT+3+1", una=":+.?*'")
    assert interchange.messages[0].segments[1].get(4) == "a*b"
    assert "is a repetition separator only from syntax version 4 (this is 3)" in str(interchange.warnings[0])


@pytest.mark.parametrize(
    ("una", "message", "element"),
    [
        ("A+.? '", "UNA1 'A' cannot be the component separator", "UNA01"),
        (": .? '", "UNA2 ' ' cannot be the element separator", "UNA02"),
        (":+x? '", "UNA3 'x' is not a decimal mark: it must be '.' or ','", "UNA03"),
        (":+.? 9", "UNA6 '9' cannot be the segment terminator", "UNA06"),
        (":+.?A'", "UNA5 'A' cannot be the repetition separator", "UNA05"),
        (":+.?:'", 'the UNA service characters must differ: ":+.?:\'"', None),
    ],
)
def test_una_faults_are_named(una, message, element):
    error = refused(edi(UNB, *DESADV, una=una))
    assert (str(error), error.element, error.reason, error.syntax_code) == (message, element, "bad_una", "20")


def test_a_truncated_una_and_an_unknown_separator_without_una():
    assert (
        str(refused(b"UNA:+."))
        == "the UNA service string advice is truncated: it needs 6 characters after UNA, found 3"
    )
    error = refused(b"UNB|UNOC:3|A|B|260115:1200|1'")
    assert str(error) == "UNB is followed by '|', not the element separator '+', and no UNA declares another"
    assert (error.segment, error.position) == ("UNB", 3)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "the message is empty: there is no EDIFACT data to read"),
        (b" \r\n", "the message is empty: there is no EDIFACT data to read"),
        (b"ISA*00*", "not an EDIFACT interchange: it must start with UNA or UNB, found 'ISA*00*', an X12 header"),
        (b'{"a": 1}', "not an EDIFACT interchange: it must start with UNA or UNB, found '{\"a\": 1}'"),
    ],
)
def test_what_is_not_edifact_is_named(raw, message):
    assert str(refused(raw)) == message


@pytest.mark.parametrize(
    ("unb", "message", "element", "reason"),
    [
        (
            "UNB++S:14+R:14+260115:1200+77",
            "UNB01-1 is missing; expected a syntax identifier such as UNOC",
            "UNB01-1",
            "missing",
        ),
        (
            "UNB+UNOZ:3+S+R+260115:1200+77",
            "UNB01-1 'UNOZ' is not a syntax identifier we read",
            "UNB01-1",
            "unsupported_syntax",
        ),
        (
            "UNB+UNOC:5+S+R+260115:1200+77",
            "UNB01-2 '5' is not a syntax version (1 to 4)",
            "UNB01-2",
            "unsupported_syntax",
        ),
        (
            "UNB+UNOC:3+ :14+R+260115:1200+77",
            "UNB02-1 is missing; expected the interchange sender id",
            "UNB02-1",
            "missing",
        ),
        (
            f"UNB+UNOC:3+{'S' * 36}+R+260115:1200+77",
            "UNB02-1 is 36 characters long; the interchange sender id has at most 35",
            "UNB02-1",
            "too_long",
        ),
        (
            "UNB+UNOC:3+SÄ:14+R+260115:1200+77",
            "UNB02-1 'SÄ' contains 'Ä', which is not printable ASCII; the interchange sender id must be",
            "UNB02-1",
            "bad_character",
        ),
        (
            "UNB+UNOC:3+S:14+:14+260115:1200+77",
            "UNB03-1 is missing; expected the interchange recipient id",
            "UNB03-1",
            "missing",
        ),
        (
            "UNB+UNOC:3+S+R+261315:1200+77",
            "UNB04-1 '261315' is not a YYMMDD or CCYYMMDD date",
            "UNB04-1",
            "invalid_date",
        ),
        ("UNB+UNOC:3+S+R+260115:2460+77", "UNB04-2 '2460' is not an HHMM time", "UNB04-2", "invalid_time"),
        (
            "UNB+UNOC:3+S+R+260115:1200",
            "UNB05 is missing; expected the interchange control reference",
            "UNB05",
            "missing",
        ),
        (
            "UNB+UNOC:3+S+R+260115:1200+123456789012345",
            "UNB05 is 15 characters long; the interchange control reference has at most 14",
            "UNB05",
            "too_long",
        ),
        (
            "UNB+UNOC:3+S+R+260115:1200+77++++9",
            "UNB09 '9' is not an acknowledgement request (1, or empty)",
            "UNB09",
            "invalid_value",
        ),
    ],
)
def test_unb_faults_are_named_by_element(unb, message, element, reason):
    error = refused(edi(unb, *DESADV))
    assert str(error).startswith(message)
    assert (error.segment, error.element, error.reason) == ("UNB", element, reason)
    assert read_header(edi(unb, *DESADV)) is None


@pytest.mark.parametrize(
    ("unh", "message", "element"),
    [
        ("UNH++DESADV:D:96A:UN", "UNH01 is missing; expected the message reference number", "UNH01"),
        ("UNH+1+desadv:D:96A:UN", "UNH02-1 'desadv' is not a message type (six capitals)", "UNH02-1"),
        ("UNH+1+DESADV::96A:UN", "UNH02-2 is missing; expected the message version number", "UNH02-2"),
    ],
)
def test_unh_faults_are_named_by_element(unh, message, element):
    error = refused(edi(UNB, unh, "BGM+351+X", "UNT+3+1"))
    assert (str(error), error.element) == (message, element)


def test_control_counts_and_references_strict_and_lenient():
    segments = (UNB, "UNH+1+DESADV:D:96A:UN", "BGM+351+X", "UNT+9+2", "UNH+2+DESADV:D:96A:UN", "UNT+2+2")
    error = refused(edi(*segments, tail="UNZ+3+78"))
    assert str(error) == "UNT01 '9' does not match the 3 segments counted in message 1"
    assert (error.element, error.ordinal, error.message_ref, error.syntax_code) == ("UNT01", 3, "1", "29")
    interchange = read(*segments, tail="UNZ+3+78", strict=False)
    assert [(e.element, e.reason, e.message_ref, str(e)) for e in interchange.errors] == [
        ("UNT01", "segment_count", "1", "UNT01 '9' does not match the 3 segments counted in message 1"),
        ("UNT02", "reference_mismatch", "1", "UNT02 '2' does not match UNH01 '1'"),
        ("UNZ01", "message_count", None, "UNZ01 '3' does not match the 2 messages counted in interchange 77"),
        ("UNZ02", "reference_mismatch", None, "UNZ02 '78' does not match UNB05 '77'"),
    ]
    assert len(interchange.messages) == 2


def test_a_count_of_thousands_of_digits_is_a_count_error_not_a_crash():
    interchange = read(UNB, "UNH+1+DESADV:D:96A:UN", "UNT+" + "9" * 5000 + "+1", strict=False)
    [error] = interchange.errors
    assert (error.element, error.reason) == ("UNT01", "segment_count")


def test_groups_are_read_and_counted():
    segments = (
        UNB,
        "UNG+DESADV+S:14+R:14+260115:1200+G1+UN+D:96A",
        *DESADV,
        "UNE+2+G2",
    )
    interchange = read(*segments, tail="UNZ+2+77", strict=False)
    [group] = interchange.groups
    assert (group.reference, [m.group_ref for m in interchange.messages]) == ("G1", ["G1"])
    assert [(e.element, e.group_ref) for e in interchange.errors] == [("UNE01", "G1"), ("UNE02", "G1"), ("UNZ01", None)]
    raw = edi(UNB, *DESADV, "UNG+DESADV+S+R+260115:1200+G1+UN+D:96A", *DESADV, "UNE+1+G1")
    mixed = refused(raw)
    assert (mixed.reason, mixed.syntax_code, str(mixed)) == (
        "groups_and_messages",
        "30",
        f"UNG at byte {raw.index(b'UNG')} opens a group after messages outside any group",
    )


@pytest.mark.parametrize(
    ("segments", "tail", "message", "reason"),
    [
        (
            (UNB, "BGM+351+X"),
            "UNZ+0+77",
            "segment BGM at byte {BGM} is outside a message: expected UNH, UNG or UNZ",
            "outside_message",
        ),
        ((UNB,), "UNZ+0+77", "the interchange holds no message (UNZ at byte {UNZ})", "empty_interchange"),
        (
            (UNB, "UNH+1+DESADV:D:96A:UN", "BGM+351+X"),
            "UNZ+1+77",
            "message 1 (UNH at byte {UNH}) has no UNT: found UNZ at byte {UNZ}",
            "truncated",
        ),
        ((UNB, *DESADV), None, "the interchange is truncated: no UNZ after the last segment", "truncated"),
        (
            (UNB, "UNH+1+DESADV:D:96A:UN", "BGM+351+X"),
            None,
            "the interchange is truncated: message 1 (UNH at byte {UNH}) has no UNT and no UNZ follows",
            "truncated",
        ),
        ((UNB, "UNE+1+G"), "UNZ+1+77", "UNE at byte {UNE} closes no group (no UNG before it)", "outside_message"),
        (
            (UNB, "UNH+1+DESADV:D:96A:UN", "bgm+351", "UNT+3+1"),
            "UNZ+1+77",
            "'bgm+351' at byte {bgm} does not start with a segment tag (three capitals or digits)",
            "bad_segment",
        ),
    ],
)
def test_structure_faults_are_named(segments, tail, message, reason):
    raw = edi(*segments, tail=tail)
    error = refused(raw, strict=False)
    offsets = {tag: raw.find(tag.encode()) for tag in ("BGM", "UNZ", "UNH", "UNE", "bgm")}
    assert (str(error), error.reason) == (message.format(**offsets), reason)


def test_truncation_inside_a_segment_and_data_after_unz():
    raw = edi(UNB, *DESADV)
    unz = raw.index(b"UNZ")
    error = refused(raw[:-5])
    expected = f"the interchange is truncated: it ends inside segment 'UNZ+' at byte {unz}, with no segment terminator"
    assert str(error) == expected + " \"'\""
    assert (error.reason, error.segment, error.position) == ("truncated", "UNZ", unz)
    assert str(refused(raw + b"\r\nXYZ")) == f"unexpected data after UNZ at byte {len(raw) + 2}: 'XYZ'"
    second = refused(raw + raw[9:])
    assert str(second) == f"a second interchange at byte {len(raw)} follows UNZ; a message carries one interchange"
    assert refused(raw[:-1] + b"?").reason == "truncated"


def test_control_bytes_are_refused_with_their_offset_and_line_breaks_inside_segments_removed():
    raw = edi(UNB, "UNH+1+DESADV:D:96A:UN", "FTX+AAA+++a\x00b", "UNT+3+1")
    error = refused(raw)
    at = raw.index(b"\x00")
    assert (str(error), error.position, error.reason) == (
        f"byte 0x00 at offset {at} is a control character, not EDIFACT data",
        at,
        "bad_character",
    )
    raw = edi(UNB, "UNH+1+DESADV:D:96A:UN", "FTX+AAA+++wrap\r\nped", "UNT+3+1")
    wrapped = read_interchange(raw)
    assert wrapped.messages[0].segments[1].get(4) == "wrapped"
    assert str(wrapped.warnings[0]) == f"line breaks inside the segment at byte {raw.index(b'FTX')} were removed"


def test_text_is_decoded_by_the_declared_repertoire_and_tolerated_when_it_is_not():
    latin = read_interchange(edi(UNB, "UNH+1+DESADV:D:96A:UN", "FTX+AAA+++Müller", "UNT+3+1"))
    assert latin.messages[0].segments[1].get(4) == "Müller"
    utf8 = edi(UNB.replace("UNOC", "UNOW"), "UNH+1+DESADV:D:96A:UN", "FTX+AAA+++x", "UNT+3+1").replace(
        b"+++x", "+++Grüße".encode()
    )
    interchange = read_interchange(utf8)
    ftx = interchange.messages[0].segments[1]
    assert ftx.get(4) == "Grüße"
    assert utf8[ftx.element_offset(4) : ftx.element_offset(4) + 3] == b"Gr\xc3"
    declared_ascii = edi(UNB.replace("UNOC", "UNOA"), "UNH+1+DESADV:D:96A:UN", "FTX+AAA+++x", "UNT+3+1").replace(
        b"+++x", "+++Grüße".encode()
    )
    interchange = read_interchange(declared_ascii)
    assert interchange.messages[0].segments[1].get(4) == "Grüße"
    at = declared_ascii.index(b"Gr")
    assert str(interchange.warnings[0]) == f"text at byte {at} is not ascii as declared; it was read as utf-8"


def test_the_header_is_read_even_when_the_rest_is_broken():
    header = read_header(edi(UNB, "UNH+1+DESADV:D:96A:UN", "BGM+351+X", tail=None))
    assert (header.sender_id, header.control_reference, header.acknowledgement_requested) == (
        "5412345000013",
        "77",
        False,
    )
    assert read_header(b"nonsense") is None
