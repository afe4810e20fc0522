"""Hand-written X12 fixtures for the X12 unit tests (helpers only: this module holds no tests).

Messages are written with ``*`` / ``>`` / ``~`` and translated to other delimiters on demand, so each
delimiter variant is the same message in another dress. Counts (SE01, GE01, IEA01) are computed, so a
test that wants a wrong count edits the bytes explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence

Set = tuple[str, str, Sequence[str]]  # (ST01, ST02, body segments)
Group = tuple[str, str, Sequence[Set]]  # (GS01, GS06, sets)


def isa(
    *,
    element: str = "*",
    component: str = ">",
    terminator: str = "~",
    version: str = "00401",
    repetition: str = "U",
    control: str = "000000001",
    sender: str = "SUPPLIER",
    receiver: str = "SCMCORE",
) -> str:
    """A fixed-width (106-byte) ISA header."""
    fields = [
        "00",
        " " * 10,
        "00",
        " " * 10,
        "ZZ",
        sender.ljust(15),
        "ZZ",
        receiver.ljust(15),
        "260115",
        "1230",
        repetition,
        version,
        control,
        "0",
        "P",
        component,
    ]
    header = "ISA" + element + element.join(fields) + terminator
    assert len(header) == 106
    return header


def message(
    groups: Sequence[Group],
    *,
    element: str = "*",
    component: str = ">",
    terminator: str = "~",
    after: str = "\n",
    indent: str = "",
    **isa_options: str,
) -> bytes:
    """A whole interchange; body segments are written with ``*``/``>`` and translated to ``element``/
    ``component``. ``after`` follows every terminator, ``indent`` precedes every segment but ISA."""
    lines = []
    for functional_id, group_control, sets in groups:
        lines.append(f"GS*{functional_id}*SUPPLIER*SCMCORE*20260115*1230*{group_control}*X*004010")
        for code, control, body in sets:
            segments = [f"ST*{code}*{control}", *body]
            lines.extend(segments)
            lines.append(f"SE*{len(segments) + 1}*{control}")
        lines.append(f"GE*{len(sets)}*{group_control}")
    control = isa_options.get("control", "000000001")
    lines.append(f"IEA*{len(groups)}*{control}")
    table = str.maketrans({"*": element, ">": component})
    body = "".join(indent + line.translate(table) + terminator + after for line in lines)
    header = isa(element=element, component=component, terminator=terminator, **isa_options)
    return (header + after + body).encode("utf-8")


def one_set(code: str, body: Sequence[str], *, control: str = "0001", functional_id: str = "SH", **options) -> bytes:
    """An interchange with one group holding one transaction set."""
    return message([(functional_id, "1", [(code, control, body)])], **options)


SHIP_NOTICE = [
    "BSN*00*ASN-1001*20260114*0930*0001",
    "HL*1**S",
    "TD5*O*2*UPSN*M*UPS GROUND",
    "REF*BM*BOL-77",
    "DTM*011*20260114",
    "DTM*017*20260120",
    "N1*ST*MAIN WAREHOUSE*92*WH-A",
    "HL*2*1*O",
    "PRF*PO-42***20260101",
    "HL*3*2*P",
    "MAN*GM*00012345678901234567",
    "HL*4*3*I",
    "LIN*1*BP*SKU-1***VP*SUP-1",
    "SN1**10*EA",
    "PID*F****BLUE WIDGET",
    "HL*5*3*I",
    "LIN*2*VP*SUP-2",
    "SN1**2.5*CA**3*CA",
    "CTT*2",
]
