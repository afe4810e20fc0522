"""Upcasters of the event store's own fixture types (domain apps keep theirs beside their schemas)."""

from scm.events.schemas import register_upcaster


@register_upcaster("TestSampleUpcast", from_version=1)
def split_name(payload: dict) -> dict:
    first, _, last = payload.pop("name").partition(" ")
    return {"first_name": first, "last_name": last}
