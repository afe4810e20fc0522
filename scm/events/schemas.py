"""JSON Schemas of event payloads, and the upcasters that lift old payloads to the current shape.

Each app keeps the schemas of the events it owns in its `event_schemas/` folder, one file per
type and version, named `<Type>.v<N>.json`. Appends validate against the newest version and record it as
`schema_version`; readers upcast older payloads step by step with the registered upcasters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path

from django.apps import apps
from jsonschema import Draft202012Validator

try:  # The same draft compiled in Rust: a valid payload (nearly every one) is confirmed ~20x faster.
    import jsonschema_rs
except ImportError:  # pragma: no cover - pinned in requirements.txt; without it every check is in Python
    jsonschema_rs = None

from scm.events.exceptions import EventValidationError, UnknownEventType

SCHEMA_FILE = re.compile(r"^(?P<type>[A-Za-z][A-Za-z0-9]*)\.v(?P<version>\d+)\.json$")

Upcaster = Callable[[dict], dict]
_upcasters: dict[tuple[str, int], Upcaster] = {}
_extra_folders: list[Path] = []


def add_schema_folder(folder: Path) -> None:
    """Also read schemas from `folder` (the test suite's own event types live outside every app)."""
    if folder not in _extra_folders:
        _extra_folders.append(folder)
        _schema_files.cache_clear()
        _validator.cache_clear()
        _fast_validator.cache_clear()


@lru_cache(maxsize=1)
def _schema_files() -> dict[str, dict[int, Path]]:
    found: dict[str, dict[int, Path]] = {}
    folders = [Path(app_config.path, "event_schemas") for app_config in apps.get_app_configs()] + _extra_folders
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            match = SCHEMA_FILE.match(path.name)
            if match:
                found.setdefault(match["type"], {})[int(match["version"])] = path
    return found


def known_event_types() -> list[str]:
    return sorted(_schema_files())


def current_version(event_type: str) -> int:
    versions = _schema_files().get(event_type)
    if not versions:
        raise UnknownEventType(event_type)
    return max(versions)


@cache
def _validator(event_type: str, version: int) -> Draft202012Validator:
    path = _schema_files()[event_type][version]
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@cache
def _fast_validator(event_type: str, version: int):
    if jsonschema_rs is None:
        return None
    schema = json.loads(_schema_files()[event_type][version].read_text())
    try:
        return jsonschema_rs.Draft202012Validator(schema, validate_formats=False)
    except ValueError:  # a schema it cannot compile (the Python validator checked it): Python decides
        return None


def _surely_valid(event_type: str, version: int, payload: dict) -> bool:
    """The Rust validator's yes; a no (or a value it cannot read) goes to the Python validator, which
    decides and names the field, so errors read the same whichever library said no first."""
    fast = _fast_validator(event_type, version)
    if fast is None:
        return False
    try:
        return fast.is_valid(payload)
    except (TypeError, ValueError):
        return False


def validate_payload(event_type: str, payload: dict) -> int:
    """Validate against the newest schema of the type; return that schema version."""
    version = current_version(event_type)
    if _surely_valid(event_type, version, payload):
        return version
    errors = sorted(_validator(event_type, version).iter_errors(payload), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        field = ".".join(str(part) for part in first.absolute_path) or "(payload)"
        raise EventValidationError(event_type=event_type, field=field, message=first.message)
    return version


def register_upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function turning a `from_version` payload into a `from_version + 1` payload."""

    def decorator(func: Upcaster) -> Upcaster:
        _upcasters[(event_type, from_version)] = func
        return func

    return decorator


def upcast(event_type: str, schema_version: int, payload: dict) -> tuple[int, dict]:
    """Lift a stored payload to the newest schema version of its type."""
    versions = _schema_files().get(event_type)
    if not versions:
        return schema_version, payload
    target = max(versions)
    while schema_version < target:
        step = _upcasters.get((event_type, schema_version))
        if step is None:
            break
        payload = step(dict(payload))
        schema_version += 1
    return schema_version, payload
