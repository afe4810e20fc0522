"""Many inbound-supply moves at once (a ship notice's lines): the same rows and events as one
`move_inbound` per move, in a fixed number of statements instead of a dozen per move.

For N moves over B balances: the balances are locked once (or passed in, already locked by the
caller in the fixed order), the source supplies are locked in one statement (unless passed in); the
target supplies' upsert, the balances' update and the sources' update go in one round trip with the
caller's own writes; the events of every stock stream (each balance has its own), the caller's own
events and the ledger rows naming them go in one statement. Every check runs before the first write,
and every lock is taken before the event append.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.utils import timezone

from inventory.exceptions import InboundSupplyNotFound, InboundSupplyTooSmall, InvalidQuantity
from inventory.models import Balance, Bucket, InboundSupply, Item, LedgerEntry, Location, Reason
from inventory.services.lock_objects import BalanceKey, SupplyKey, lock_balances
from inventory.services.recording import positive_qty, stock_stream
from scm import raw_sql
from scm.bulk_sql import add_by_id_statement
from scm.errors import ValidationFailed
from scm.events.store import Dependent, NewEvent, RecordedEvent, append_streams


@dataclass(frozen=True)
class InboundMove:
    """`from_qty` units stop being expected under `from_reference` (0: none) and `qty` units are expected
    under `to_reference` by `expected_date` (what `move_inbound` does for one)."""

    item: Item
    location: Location
    from_reference: str
    from_qty: int
    to_reference: str
    qty: int
    expected_date: date
    source: str = "asn"

    @property
    def key(self) -> BalanceKey:
        return (self.item.pk, self.location.pk)


def _check(move: InboundMove) -> None:
    positive_qty(move.qty)
    if not move.to_reference:
        raise ValidationFailed("Inbound supply needs a reference.", reference=move.to_reference)
    if isinstance(move.from_qty, bool) or not isinstance(move.from_qty, int) or move.from_qty < 0:
        raise InvalidQuantity(move.from_qty, "the quantity moved off a supply is a whole number of zero or more")


@transaction.atomic(savepoint=False)
def inbound_move_many(
    *,
    moves: Sequence[InboundMove],
    balances: Mapping[BalanceKey, Balance] | None = None,
    supplies: Mapping[SupplyKey, InboundSupply] | None = None,
    also: Sequence[tuple[str, Sequence[NewEvent]]] = (),
    writes_first: Sequence[raw_sql.Statement] = (),
) -> list[RecordedEvent]:
    """Apply the moves in order; one `InboundSupplyMoved` event per move on its stock stream.

    `balances` and `supplies` are the caller's already locked balances and inbound supply (inventory's
    fixed order, taken before any append, read in this transaction); any balance of a move not among
    them is locked here, and the source supplies are locked here unless all of them are given. Raises
    InboundSupplyNotFound or InboundSupplyTooSmall before writing anything. Runs inside the caller's
    transaction (no savepoint: an error must roll the caller back, as it does for the message being
    applied). `also` are other streams' events (the caller's own announcement) appended after the
    moves' in the same call: one round trip for all of them. `writes_first` are the caller's own writes
    (no results read), sent before the moves' writes in the same round trip (after every check).
    """
    if not moves:
        return []
    for move in moves:
        _check(move)
    locked = dict(balances or {})
    missing = {move.key: (move.item, move.location) for move in moves if move.key not in locked}
    if missing:
        locked.update(lock_balances(missing.values()))
    sources = _lower_sources(moves, supplies or {})
    now = timezone.now()
    deltas: dict[int, int] = defaultdict(int)
    for move in moves:
        balance = locked[move.key]
        deltas[balance.pk] += move.qty - move.from_qty
        balance.updated_at = now
    writes = [*writes_first, _raise_targets(moves), add_by_id_statement(Balance, "inbound", deltas, updated_at=now)]
    if sources:
        writes.append(add_by_id_statement(InboundSupply, "quantity", sources, updated_at=now))
    raw_sql.execute_together(writes)  # one round trip: no result is read, every check ran above
    for move in moves:
        locked[move.key].inbound += move.qty - move.from_qty
    return _record(moves, now, also)


def _lower_sources(moves: Sequence[InboundMove], locked: Mapping[SupplyKey, InboundSupply]) -> dict[int, int]:
    """Lock the supplies units move off (one statement, unless the caller locked them all) and check
    them all; returns {supply id: -qty}."""
    wanted: dict[SupplyKey, int] = defaultdict(int)
    for move in moves:
        if move.from_qty:
            wanted[(move.item.pk, move.location.pk, move.from_reference)] += move.from_qty
    if not wanted:
        return {}
    if all(key in locked for key in wanted):
        found = dict(locked)
    else:
        rows = (
            InboundSupply.objects.select_for_update()
            .filter(
                item_id__in={k[0] for k in wanted},
                location_id__in={k[1] for k in wanted},
                reference__in={k[2] for k in wanted},
            )
            .order_by("id")
        )
        found = {(row.item_id, row.location_id, row.reference): row for row in rows}
    names = {move.key: (move.item.sku, move.location.code) for move in moves}
    lowered: dict[int, int] = {}
    for (item_id, location_id, reference), qty in wanted.items():
        supply = found.get((item_id, location_id, reference))
        sku, code = names[(item_id, location_id)]
        if supply is None:
            raise InboundSupplyNotFound(reference, sku, code)
        if qty > supply.quantity:
            raise InboundSupplyTooSmall(reference=reference, requested=qty, expected=supply.quantity)
        lowered[supply.pk] = -qty
    return lowered


def _raise_targets(moves: Sequence[InboundMove]) -> raw_sql.Statement:
    """The upsert creating or adding to every target supply (the last move's date wins per reference)."""
    targets: dict[tuple[int, int, str], list] = {}
    for move in moves:
        key = (move.item.pk, move.location.pk, move.to_reference)
        entry = targets.setdefault(key, [move.source, 0, move.expected_date])
        entry[1] += move.qty
        entry[2] = move.expected_date
    now = timezone.now()
    table = InboundSupply._meta.db_table
    rows = [(*key, source, qty, expected, now, now) for key, (source, qty, expected) in targets.items()]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    return (
        f"""
        INSERT INTO {table} (item_id, location_id, reference, source, quantity, expected_date, created_at,
                             updated_at)
        VALUES {values}
        ON CONFLICT (reference, item_id, location_id) DO UPDATE SET
            quantity = {table}.quantity + EXCLUDED.quantity,
            expected_date = EXCLUDED.expected_date,
            updated_at = EXCLUDED.updated_at
        """,
        [value for row in rows for value in row],
    )


def _record(moves: Sequence[InboundMove], now, also: Sequence[tuple[str, Sequence[NewEvent]]]) -> list[RecordedEvent]:
    """One event per move (grouped per stream, in order) and the caller's `also`, appended in one call
    with every ledger row (the rows name their move's event: one statement on PostgreSQL)."""
    by_stream: dict[str, list[InboundMove]] = defaultdict(list)
    for move in moves:
        by_stream[stock_stream(move.item.sku, move.location.code)].append(move)
    batches = [
        (stream, [NewEvent(type="InboundSupplyMoved", payload=_payload(m, now), occurred_at=now) for m in stream_moves])
        for stream, stream_moves in by_stream.items()
    ]
    index = {id(move): n for n, move in enumerate((m for ms in by_stream.values() for m in ms), start=1)}
    ledger = []
    for move in moves:
        if move.from_qty:
            ledger.append(_entry(move, -move.from_qty, Reason.INBOUND_REMOVED, index[id(move)], now))
        ledger.append(_entry(move, move.qty, Reason.INBOUND_ADDED, index[id(move)], now))
    recorded = append_streams(
        [*batches, *also],
        dependent=Dependent(LedgerEntry, LEDGER_FIELDS, "event", ledger),
    )
    events: dict[int, RecordedEvent] = {}
    for stream_moves, stream_events in zip(by_stream.values(), recorded[: len(by_stream)], strict=True):
        for move, event in zip(stream_moves, stream_events, strict=True):
            events[id(move)] = event
    return [events[id(move)] for move in moves]


def _payload(move: InboundMove, now) -> dict:
    movements = []
    if move.from_qty:
        movements.append(_movement(move, -move.from_qty, Reason.INBOUND_REMOVED))
    movements.append(_movement(move, move.qty, Reason.INBOUND_ADDED))
    return {
        "sku": move.item.sku,
        "location": move.location.code,
        "qty": move.qty,
        "from_reference": move.from_reference,
        "moved": move.from_qty,
        "to_reference": move.to_reference,
        "source": move.source,
        "expected_date": move.expected_date.isoformat(),
        "effective_at": now.isoformat(),
        "movements": movements,
    }


def _movement(move: InboundMove, qty: int, reason: str) -> dict:
    return {
        "sku": move.item.sku,
        "location": move.location.code,
        "bucket": Bucket.INBOUND,
        "qty": qty,
        "reason": reason,
    }


#: The ledger row's columns but its event, in the order `_entry` gives them (the event's position is
#: filled in by the append, from the index each row ends with).
LEDGER_FIELDS = (
    "item_id",
    "location_id",
    "bucket",
    "quantity",
    "reason",
    "reference",
    "effective_at",
    "recorded_at",
)


def _entry(move: InboundMove, qty: int, reason: str, event_index: int, now) -> tuple:
    return (move.item.pk, move.location.pk, Bucket.INBOUND, qty, reason, move.to_reference, now, now, event_index)
