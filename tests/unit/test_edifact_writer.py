"""The CONTRL writer: exact bytes, read back with our own reader, for acknowledgements, message and
interchange rejections, groups, syntax 4, and values that need the release character."""

from __future__ import annotations

from datetime import datetime

import pytest

from suppliers.adapters.edifact import (
    EdifactError,
    build_contrl,
    map_message,
    read_header,
    read_interchange,
)
from suppliers.documents import Origin
from tests.edifact import desadv_body, interchange

STAMP = datetime(2026, 1, 15, 12, 30)


def contrl(received, errors=(), **kwargs) -> list[str]:
    body = build_contrl(received, errors, interchange_control=5, message_reference=9, created_at=STAMP, **kwargs)
    read_interchange(body)  # a valid interchange by our own reader
    return body.decode("ascii").split("'\n")[:-1]


def test_a_positive_acknowledgement():
    received = read_interchange(
        interchange("5412345000013", "77", [("DESADV", desadv_body("D", "P", [("1", "A", "1")]))])
    )
    assert contrl(received) == [
        "UNA:+.? ",
        "UNB+UNOC:3+SCMCORE:14+5412345000013:14+260115:1230+5",
        "UNH+9+CONTRL:D:3:UN",
        "UCI+77+5412345000013:14+SCMCORE:14+7",
        "UCM+1+DESADV:D:96A:UN:EAN008+7",
        "UNT+4+9",
        "UNZ+1+5",
    ]


def test_a_message_rejected_with_segment_and_element():
    raw = interchange(
        "5412345000013",
        "77",
        [
            ("DESADV", desadv_body("D1", "P", [("1", "A", "1")])),
            ("DESADV", desadv_body("D2", "P", [("1", "A", "x")])),
        ],
    )
    received = read_interchange(raw)
    with pytest.raises(EdifactError) as caught:
        map_message(received.messages[1], Origin())
    assert contrl(received, [caught.value])[3:8] == [
        "UCI+77+5412345000013:14+SCMCORE:14+7",
        "UCM+1+DESADV:D:96A:UN:EAN008+7",
        "UCM+2+DESADV:D:96A:UN:EAN008+4",
        "UCS+17",
        "UCD+37+2:2",
    ]


def test_interchange_level_faults_reject_the_interchange():
    raw = interchange("5412345000013", "77", [("DESADV", desadv_body("D", "P", [("1", "A", "1")]))])
    lenient = read_interchange(raw.replace(b"UNZ+1+77", b"UNZ+1+78"), strict=False)
    assert contrl(lenient)[3:5] == [
        "UCI+77+5412345000013:14+SCMCORE:14+4+28+UNZ+3",
        "UCM+1+DESADV:D:96A:UN:EAN008+7",
    ]
    truncated = raw[: raw.index(b"UNT")]
    with pytest.raises(EdifactError) as caught:
        read_interchange(truncated)
    assert contrl(read_header(truncated), [caught.value])[3:] == [
        "UCI+77+5412345000013:14+SCMCORE:14+4+13",
        "UNT+3+9",
        "UNZ+1+5",
    ]
    with pytest.raises(EdifactError, match="needs the error that stopped it"):
        contrl(read_header(truncated))


def test_groups_get_a_ucf_and_syntax_4_its_own_version_and_release_characters_are_used():
    raw = (
        b"UNA:+.?*'UNB+UNOC:4+S?+1:ZZ+R:ZZ+20260115:1200+88'"
        b"UNG+DESADV+S:ZZ+R:ZZ+260115:1200+G1+UN+D:96A'"
        b"UNH+1+DESADV:D:96A:UN'BGM+351+X+9'UNT+3+1'UNE+1+G9'UNZ+1+88'"
    )
    received = read_interchange(raw, strict=False)
    assert received.header.sender_id == "S+1"
    assert contrl(received) == [
        "UNA:+.?*",
        "UNB+UNOC:4+R:ZZ+S?+1:ZZ+20260115:1230+5",
        "UNH+9+CONTRL:4:1:UN",
        "UCI+88+S?+1:ZZ+R:ZZ+7",
        "UCF+G1+S:ZZ+R:ZZ+4+28+UNE+3",
        "UCM+1+DESADV:D:96A:UN+7",
        "UNT+5+9",
        "UNZ+1+5",
    ]


def test_control_references_must_be_writable():
    received = read_interchange(interchange("S", "1", [("DESADV", desadv_body("D", "P", [("1", "A", "1")]))]))
    with pytest.raises(EdifactError, match="is not a control reference"):
        build_contrl(received, interchange_control=0, message_reference=1, created_at=STAMP)
