"""Event types that exist only for the tests: `TestEventRecorded` (any payload with a number) and
`TestSampleUpcast` (v1 `name` -> v2 `first_name`/`last_name`, with its upcaster, the pattern a domain
app follows when a payload changes shape). Imported by tests/conftest.py, and by modules a test
worker process loads (`celery worker --include`), so every process of a test run knows them."""

from pathlib import Path

from scm.events.schemas import add_schema_folder, register_upcaster

add_schema_folder(Path(__file__).parent / "event_schemas")


@register_upcaster("TestSampleUpcast", from_version=1)
def split_name(payload: dict) -> dict:
    first, _, last = payload.pop("name").partition(" ")
    return {"first_name": first, "last_name": last}
