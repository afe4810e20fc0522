"""Property-based fuzzing of the inbound pipeline (issue 17, item 5), X12 and EDIFACT.

Real-ish documents (our own 856 / DESADV / ORDRSP / INVOIC fixtures for a known supplier, plus the shared
samples when ../shared is present) are mutated: truncated, delimiters swapped, segments dropped or
duplicated, elements replaced by oversized digits or text, non-ASCII text or Unicode digits, stray ASCII.
Each mutant is stored and processed the way production does it (the Celery task, so a bug would end as
`internal_error`), and the property is:

- the outcome is APPLIED, DUPLICATE or QUARANTINED, never `internal_error`;
- the stored bytes are exactly the bytes sent (sha256 too);
- every syntax reason names the right place: its element reference belongs to its segment, and the value
  it quotes is the value at that place in the message (re-read to find the segment by group, set or
  message and position, or at the byte offset the reason gives).

``FUZZ_EXAMPLES`` sets the examples per test (default 40 to keep CI moderate); ``FUZZ_RANDOM=1`` draws new
examples instead of the fixed, reproducible ones.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suppliers import inbound, services
from suppliers.adapters import edifact, x12
from suppliers.exceptions import printable
from suppliers.models import IN, InboundMessage
from suppliers.tasks import process_inbound_message
from tests.edifact import desadv_body, invoic_body, ordrsp_body
from tests.edifact import interchange as edifact_interchange
from tests.integration.test_suppliers_setup import asn_body, interchange, item, make_order, make_supplier

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
SAMPLES = Path(__file__).parents[2].parent / "shared" / "edi-samples"
_serial = itertools.count(1)


@dataclass(frozen=True)
class Doc:
    """A document as segments (without terminators) and the delimiters it is written with."""

    segments: tuple[str, ...]
    element: str
    component: str
    terminator: str
    after: str = "\n"
    head: str = ""  # the UNA of an EDIFACT interchange, kept verbatim

    def render(self, segments: tuple[str, ...] | list[str] | None = None) -> str:
        return self.head + "".join(s + self.terminator + self.after for s in (segments or self.segments))


def x12_doc(raw: bytes) -> Doc:
    interchange_ = x12.read_interchange(raw, strict=False)
    d = interchange_.delimiters
    text = raw.decode("latin-1")
    segments = [s.strip(" \t\r\n") for s in text.split(d.segment)]
    return Doc(tuple(s for s in segments if s), d.element, d.component, d.segment)


def edifact_doc(raw: bytes) -> Doc:
    text = raw.decode("latin-1")
    head = text[:9] if text.startswith("UNA") else ""
    chars = edifact.read_header(raw).chars
    segments = [s.strip(" \t\r\n") for s in text[len(head) :].split(chars.segment)]
    return Doc(tuple(s for s in segments if s), chars.element, chars.component, chars.segment, "\r\n", head)


# --- mutations ---------------------------------------------------------------------------------------

LONG_DIGITS = st.integers(16, 6000).map(lambda n: "9" * n)
LONG_TEXT = st.integers(40, 6000).map(lambda n: "X" * n)
NON_ASCII = st.text(
    alphabet=st.characters(min_codepoint=0xA0, max_codepoint=0x24FF, blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
    min_size=1,
    max_size=12,
)
UNICODE_DIGITS = st.sampled_from(["²", "١٢", "٣٤٥", "１２", "9²", "७"])
SHORT = st.text("ABZ019 -.,/", min_size=1, max_size=3)
VALUES = st.one_of(
    LONG_DIGITS, LONG_TEXT, NON_ASCII, UNICODE_DIGITS, st.just(""), SHORT, st.text("ABC019 -./", max_size=8)
)
#: Envelope segments, where a fault breaks the replies (TA1, 997, CONTRL) rather than one document: drawn
#: as often as all the others together.
ENVELOPE = frozenset({"ISA", "GS", "ST", "SE", "GE", "IEA", "UNB", "UNG", "UNH", "UNT", "UNE", "UNZ"})


@st.composite
def mutants(draw, corpus: list[Doc]) -> bytes:
    doc = draw(st.sampled_from(corpus))
    kind = draw(st.sampled_from(["truncate", "swap", "drop", "duplicate", "element", "element", "element"]))
    segments = list(doc.segments)
    if kind == "element":
        envelope = [i for i, segment in enumerate(segments) if segment[:3].rstrip(doc.element) in ENVELOPE]
        index = draw(st.one_of(st.sampled_from(envelope), st.integers(0, len(segments) - 1)))
        parts = segments[index].split(doc.element)
        position = draw(st.integers(1, len(parts)))
        value = draw(VALUES)
        value = "".join(c for c in value if c not in (doc.element, doc.component, doc.terminator, "?", "\r", "\n"))
        parts[position : position + 1] = [value]
        segments[index] = doc.element.join(parts)
        text = doc.render(segments)
    elif kind in ("drop", "duplicate"):
        index = draw(st.integers(0, len(segments) - 1))
        segments[index : index + 1] = [] if kind == "drop" else [segments[index]] * 2
        text = doc.render(segments)
    elif kind == "swap":
        first, second = draw(
            st.sampled_from([("element", "component"), ("element", "terminator"), ("component", "terminator")])
        )
        a, b = getattr(doc, first), getattr(doc, second)
        text = doc.render().translate(str.maketrans({a: b, b: a}))
    else:
        text = doc.render()
        text = text[: draw(st.integers(0, len(text) - 1))]
    encoding = draw(st.sampled_from(["utf-8", "latin-1"]))
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode("utf-8")


# --- the property ------------------------------------------------------------------------------------


def process(raw: bytes, supplier) -> InboundMessage:
    stored = inbound.inbound_message_store(body=raw, source="api", supplier=supplier)
    process_inbound_message.apply(args=[stored.pk])  # the production door: a crash would become internal_error
    return InboundMessage.objects.get(pk=stored.pk)


def check(raw: bytes, message: InboundMessage) -> None:
    assert message.status in (IN.APPLIED, IN.DUPLICATE, IN.QUARANTINED), message.status
    assert bytes(message.body) == raw and message.sha256 == hashlib.sha256(raw).hexdigest()
    assert not [e for e in message.errors if e["code"] == "internal_error" or e["kind"] == "internal"], message.errors
    if message.status == IN.QUARANTINED:
        assert message.errors
    for error in message.errors:
        assert error["message"]
        if error["kind"] == "syntax":
            names_its_place(raw, message.format, error)


#: Reasons that name a segment by its absence (a missing UNB, a UNT that never came): not found at the offset.
ABSENT = ("_missing", "_truncated")
ELEMENT_REF = re.compile(r"(?P<tag>[A-Z][A-Z0-9]{1,2})(?P<index>[0-9]{2})(?:-(?P<component>[0-9]+))?")


def same_value(quoted: str | None, actual: str) -> bool:
    """The value a reason quotes is the value there (reasons escape control characters and cut at 2000)."""
    if quoted is None:
        return True
    shown = printable(actual)
    return shown == quoted or (quoted.endswith("…") and shown.startswith(quoted[:-1]))


def names_its_place(raw: bytes, message_format: str, error: dict) -> None:
    segment, element, value, path = error["segment"], error["element"], error["value"], error["path"] or ""
    ref = ELEMENT_REF.fullmatch(element) if element else None
    if element:
        assert ref and ref["tag"] == segment, error  # the element belongs to the segment named
    if path.startswith("byte "):
        at = int(path[5:])
        if value is not None and (element or segment is None):
            quoted = value[:-1] if value.endswith("…") else value
            here = [printable(raw[at : at + 4 * len(value) + 8].decode(enc, "replace")) for enc in ("utf-8", "latin-1")]
            assert any(shown.startswith(quoted) for shown in here), (error, here)
        elif segment and value is None and not element and not error["code"].endswith(ABSENT):
            assert raw[at : at + len(segment)] == segment.encode(), error
        return
    found = locate(raw, message_format, path)
    if found is None:
        return  # the reason is about structure the message no longer has (a truncated set): nothing to re-read
    if not element and error["code"].endswith(ABSENT):
        return  # a segment named by its absence: the path gives the last one before it
    assert found.tag == segment, (error, found)
    if ref:
        index, component = int(ref["index"]), int(ref["component"] or 0)
        actual = found.get(index, component or 1) if message_format == "edifact" else found.get(index)
        assert same_value(value, actual), (error, actual)


def locate(raw: bytes, message_format: str, path: str):
    """The segment a path such as ``GS 1/ST 0001/SN1 #14`` or ``UNH 7/QTY #17`` names, re-read leniently."""
    steps = path.split("/")
    ordinal = re.fullmatch(r"[A-Z][A-Z0-9]{1,2} #([0-9]+)", steps[-1])
    if not ordinal:
        return None
    position = int(ordinal[1])
    try:
        if message_format == "x12":
            tree = x12.read_interchange(raw, strict=False)
            group, tset = steps[0][3:], steps[1][3:]
            units = [t for t in tree.transaction_sets() if t.control_number == tset and t.group_control == group]
            return next(t.segments[position - 1] for t in units if len(t.segments) >= position)
        tree = edifact.read_interchange(raw, strict=False)
        reference = next(step[4:] for step in steps if step.startswith("UNH "))
        units = [m for m in tree.messages if m.reference == reference]
        return next(m.segments[position - 1] for m in units if len(m.segments) >= position)
    except (x12.X12Error, edifact.EdifactError, StopIteration):
        return None


# --- the tests ---------------------------------------------------------------------------------------


@pytest.fixture
def trade(unique):
    supplier = make_supplier(unique, edifact_id=f"59{int(unique, 16) % 10**11:011d}", formats=["x12", "edifact"])
    a, b = item(f"A-{unique}").sku, item(f"B-{unique}").sku
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"PA-{unique}", sku=a)
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"PB-{unique}", sku=b)
    order = make_order(unique, supplier, [(a, 1000, "2.50"), (b, 1000, "7.00")])
    return {"supplier": supplier, "pa": f"PA-{unique}", "pb": f"PB-{unique}", "order": order}


def shared(names: list[str]) -> list[bytes]:
    return [(SAMPLES / name).read_bytes() for name in names if (SAMPLES / name).is_file()]


#: Fixtures carry this token where each example needs its own number (ISA13, UNB05, document numbers); it is
#: replaced after mutation by a serial of the same length, so offsets in reasons stay where they were.
TOKEN = "88888888"


def unique_copy(raw: bytes) -> bytes:
    return raw.replace(TOKEN.encode(), f"{next(_serial) % 10**8:08d}".encode())


@pytest.fixture
def x12_corpus(trade) -> list[Doc]:
    own = interchange(
        trade["supplier"].isa_id,
        int(TOKEN),
        [("856", asn_body(f"F{TOKEN}", trade["order"].number, [("1", trade["pa"], 4), ("2", trade["pb"], 2)]))],
    )
    samples = shared(["856-bots-1.edi", "855-bots-1.edi", "810-bots-1.edi", "846-x12parser-1.edi"])
    return [x12_doc(own), *(x12_doc(raw) for raw in samples)]


@pytest.fixture
def edifact_corpus(trade) -> list[Doc]:
    gln, po = trade["supplier"].edifact_id, trade["order"].number
    own = edifact_interchange(
        gln,
        TOKEN,
        [
            ("DESADV", desadv_body(f"E{TOKEN}", po, [("1", trade["pa"], "4"), ("2", trade["pb"], "2")])),
            ("ORDRSP", ordrsp_body(f"R{TOKEN}", po, [("1", "5", trade["pa"], "1000")])),
            ("INVOIC", invoic_body(f"I{TOKEN}", po, [("1", trade["pa"], "1", "2.50")], total="2.50")),
        ],
    )
    return [edifact_doc(own), *(edifact_doc(raw) for raw in shared(["DESADV-bots-1.edi", "ORDERS-dfdl-1.edi"]))]


@FUZZ
@given(data=st.data())
def test_mutated_x12_ends_applied_duplicate_or_quarantined_with_its_place_named(x12_corpus, data):
    raw = unique_copy(data.draw(mutants(x12_corpus)))
    check(raw, process(raw, None))


@FUZZ
@given(data=st.data())
def test_mutated_edifact_ends_applied_duplicate_or_quarantined_with_its_place_named(edifact_corpus, data):
    raw = unique_copy(data.draw(mutants(edifact_corpus)))
    check(raw, process(raw, None))


def test_the_oracle_can_fail():
    """The place check is not vacuous: a reason quoting another value than the one at its place fails it."""
    raw = interchange("S1", 1, [("856", asn_body("X", "PO", [("1", "P", 4)]))])
    check_error = {
        "code": "x12_not_a_number",
        "message": "SN102 'ten' is not a number",
        "kind": "syntax",
        "segment": "SN1",
        "element": "SN102",
        "value": "ten",
        "path": "GS 1/ST 0001/SN1 #10",
    }
    with pytest.raises(AssertionError):
        names_its_place(raw, "x12", check_error)
    names_its_place(raw, "x12", {**check_error, "value": "4"})
