"""The allocation rule, as a pure function over a snapshot of availability.

For each line, in line order, with availability shared by all lines of the order (two lines of
one SKU never both see the full stock):

1. A single location that can cover the whole remaining quantity is preferred (no split): among
   those, the lowest allocation rank, then the most available, then the code.
2. Otherwise the line is split: locations are taken by most available first (fewest splits),
   ties by rank then code, until the line is covered or stock runs out.
3. Whatever cannot be covered is backordered.

Every candidate is reported with its availability at that moment and why it was or was not
chosen, so the event explains the decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Candidate:
    location: str
    available: int
    rank: int


@dataclass
class LinePlan:
    line_id: int
    line_no: int
    sku: str
    needed: int
    take: dict[str, int] = field(default_factory=dict)
    candidates: list[dict] = field(default_factory=list)
    rule: str = ""

    @property
    def reserved(self) -> int:
        return sum(self.take.values())

    @property
    def short(self) -> int:
        return self.needed - self.reserved


def plan_lines(lines: list[tuple[int, int, str, int]], stock: dict[str, list[Candidate]]) -> list[LinePlan]:
    """lines: (line id, line no, sku, quantity still needed); stock: candidates per SKU."""
    remaining = {(sku, c.location): c.available for sku, cands in stock.items() for c in cands}
    plans = []
    for line_id, line_no, sku, needed in lines:
        plan = LinePlan(line_id=line_id, line_no=line_no, sku=sku, needed=needed)
        candidates = [
            Candidate(c.location, remaining[(sku, c.location)], c.rank)
            for c in stock.get(sku, [])
            if remaining[(sku, c.location)] > 0
        ]
        whole = sorted(
            (c for c in candidates if c.available >= needed), key=lambda c: (c.rank, -c.available, c.location)
        )
        if whole:
            chosen = whole[0]
            plan.take[chosen.location] = needed
            plan.rule = "single location covers the line"
        else:
            plan.rule = "split across locations, most available first" if candidates else "no stock anywhere"
            for candidate in sorted(candidates, key=lambda c: (-c.available, c.rank, c.location)):
                if plan.reserved >= needed:
                    break
                plan.take[candidate.location] = min(candidate.available, needed - plan.reserved)
        for candidate in sorted(candidates, key=lambda c: (c.rank, c.location)):
            taken = plan.take.get(candidate.location, 0)
            plan.candidates.append(
                {
                    "location": candidate.location,
                    "available": candidate.available,
                    "rank": candidate.rank,
                    "chosen": taken,
                    "why": _why(candidate, taken, plan, whole),
                }
            )
        for location, quantity in plan.take.items():
            remaining[(sku, location)] -= quantity
        plans.append(plan)
    return plans


def _why(candidate: Candidate, taken: int, plan: LinePlan, whole: list[Candidate]) -> str:
    if taken and whole:
        return "covers the whole line; best rank among locations that can"
    if taken:
        return f"takes {taken} of {candidate.available} available toward a split"
    if whole:
        return "could cover the line, but a better-ranked location was chosen"
    return "not needed once the line was covered"
