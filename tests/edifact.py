"""EDIFACT fixtures for the tests: interchanges written segment by segment with correct UNT/UNZ counts
(so each test can break exactly one thing), and DESADV/ORDRSP/INVOIC bodies in the EANCOM D.96A shape.

Segments are written with the default service characters (``:+.? '``); ``interchange(..., una=...)``
rewrites them into other ones, so a test can prove the reader honours any UNA.
"""

from __future__ import annotations

DEFAULT_UNA = ":+.? '"


def interchange(
    sender: str,
    control: str,
    messages: list[tuple[str, list[str]]],
    *,
    recipient: str = "SCMCORE",
    una: str | None = DEFAULT_UNA,
    syntax: str = "UNOC:3",
    ack: bool = False,
    release: str = "96A",
    unt_delta: int = 0,
    separator: str = "\r\n",
) -> bytes:
    """An interchange of ``messages`` [(type, body segments without UNH/UNT)], written with ``una``'s service
    characters (segments are given in the default ones; ``?`` releases them)."""
    segments = [f"UNB+{syntax}+{sender}:14+{recipient}:14+260115:1200+{control}{'++++1' if ack else ''}"]
    for index, (kind, body) in enumerate(messages, start=1):
        segments.append(f"UNH+{index}+{kind}:D:{release}:UN:EAN008")
        segments.extend(body)
        segments.append(f"UNT+{len(body) + 2 + unt_delta}+{index}")
    segments.append(f"UNZ+{len(messages)}+{control}")
    text = "".join(_rewrite(segment, una or DEFAULT_UNA) + (una or DEFAULT_UNA)[5] + separator for segment in segments)
    head = f"UNA{una}{separator}" if una is not None else ""
    return (head + text).encode("latin-1")


def _rewrite(segment: str, una: str) -> str:
    """Translate a segment from the default service characters into ``una``'s: structure characters are
    replaced, data characters that are special in ``una`` are released, and ``.`` follows UNA3."""
    if una == DEFAULT_UNA:
        return segment
    structure = {":": una[0], "+": una[1], "'": una[5]}
    specials = {una[0], una[1], una[3], una[5]} | ({una[4]} if una[4] != " " else set())
    out, released = [], False
    for char in segment:
        if not released and char == "?":
            released = True
            continue
        if not released and char in structure:
            out.append(structure[char])
        elif not released and char == ".":
            out.append(una[2])
        else:
            out.append(una[3] + char if char in specials else char)
        released = False
    return "".join(out)


def desadv_body(
    number: str,
    po_number: str,
    items: list[tuple[str, str, str]],
    *,
    shipped: str = "20260115",
    delivery: str | None = "20260120",
    sscc: str | None = "354123450000000014",
    item_type: str = "SA",
) -> list[str]:
    """A DESADV: BGM 351, dates, the order (RFF ON), one pallet (CPS/PAC/GIN BJ) holding the items
    [(LIN01, supplier article number, quantity)], each with QTY+12 in pieces."""
    body = [f"BGM+351+{number}+9", "DTM+137:202601151200:203", f"DTM+11:{shipped}:102"]
    if delivery:
        body.append(f"DTM+17:{delivery}:102")
    body += [f"RFF+ON:{po_number}", "NAD+SU+5412345000013::9", "NAD+DP+5412345000020::9", "TDT+20++30+31+DHLX"]
    body += ["CPS+1", "CPS+2+1", "PAC+1++201"]
    if sscc:
        body += ["PCI+33E", f"GIN+BJ+{sscc}"]
    for line_no, part, qty in items:
        body += [f"LIN+{line_no}", f"PIA+5+{part}:{item_type}", f"QTY+12:{qty}:PCE"]
    body.append(f"CNT+2:{len(items)}")
    return body


def ordrsp_body(
    number: str, po_number: str, lines: list[tuple[str, str, str, str]], *, function: str = "4", date: str = "20260125"
) -> list[str]:
    """An ORDRSP: BGM 231 with function ``function`` (4 change, 29 accepted, 27 rejected), the order, and per
    line [(LIN01, action 1229, supplier article, confirmed quantity)] with a price and a delivery date."""
    body = [f"BGM+231+{number}+{function}", "DTM+137:20260116:102", f"RFF+ON:{po_number}", "NAD+SU+5412345000013::9"]
    for line_no, action, part, qty in lines:
        body += [
            f"LIN+{line_no}+{action}",
            f"PIA+5+{part}:SA",
            f"QTY+113:{qty}:PCE",
            f"DTM+2:{date}:102",
            "PRI+AAA:2.5",
        ]
    body += ["UNS+S", f"CNT+2:{len(lines)}"]
    return body


def invoic_body(
    number: str,
    po_number: str,
    lines: list[tuple[str, str, str, str]],
    *,
    total: str,
    lines_total: str | None = None,
    tax: str | None = None,
) -> list[str]:
    """An INVOIC: BGM 380, date, order, currency, per line [(LIN01, supplier article, quantity, net price)],
    then UNS and the summary amounts (MOA 77 total, MOA 79 line items, MOA 124 tax)."""
    body = [f"BGM+380+{number}+9", "DTM+137:20260120:102", f"RFF+ON:{po_number}", "CUX+2:EUR:4"]
    for line_no, part, qty, price in lines:
        amount = f"{float(qty) * float(price):.2f}"
        body += [f"LIN+{line_no}", f"PIA+5+{part}:SA", f"QTY+47:{qty}:PCE", f"MOA+203:{amount}", f"PRI+AAA:{price}"]
    body += ["UNS+S", f"CNT+2:{len(lines)}", f"MOA+77:{total}"]
    if lines_total is not None:
        body.append(f"MOA+79:{lines_total}")
    if tax is not None:
        body.append(f"MOA+124:{tax}")
    return body
