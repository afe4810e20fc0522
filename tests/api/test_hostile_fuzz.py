"""Hypothesis throws hostile JSON and parameters at every operation: never a 5xx (issues 13 and 14).

schemathesis generates from the schema, so it rarely sends what the schema does not describe. This
test does the opposite on purpose, for every operation of the live schema:

- bodies: nesting from a few levels to far past the limit, strings with lone surrogates, NUL,
  other control characters and astral characters, huge and negative numbers, as values and as keys;
- query parameters (the documented ones and `limit`/`offset`/`cursor`/`as_of`/`after`): the same
  strings, NUL included, and numbers beyond 64 bits.

Every answer must be below 500 and, under /api/, JSON in the one error shape when it is an error.
`HOSTILE_FUZZ_EXAMPLES` (default 40) sets the examples per operation.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from scm.roles import OPS
from tests.api.helpers import client_for
from tests.api.world import url_for

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.timeout(900)]

EXAMPLES = int(os.environ.get("HOSTILE_FUZZ_EXAMPLES", "40"))
EXTRA_PARAMETERS = ("limit", "offset", "cursor", "as_of", "known_at", "after", "sku", "status", "format")

# Text that breaks naive code: lone surrogates, NUL and other controls, astral and combining characters.
_NASTY_CHARS = st.sampled_from(["\ud800", "\udfff", "\x00", "\x1f", "\u202e", "\U0001f4a9", "e\u0301", "\uffff"])
nasty_text = st.lists(st.one_of(_NASTY_CHARS, st.characters()), max_size=12).map("".join)
nasty_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([2**63, -(2**63) - 1, 2**31, -1, 0])
)
scalars = st.one_of(nasty_text, nasty_numbers, st.floats(allow_nan=False), st.booleans(), st.none())


def _nested(depth: int, leaf) -> str:
    return "[" * depth + json.dumps(leaf) + "]" * depth


# Depths around the limit (32) and far past the decoder's recursion limit (~1,000).
depths = st.sampled_from([1, 2, 31, 32, 33, 200, 999, 1000, 3000])
# A value as JSON text: a scalar, or a scalar buried in nested arrays (built as text: json.dumps would recurse).
value_texts = st.one_of(scalars.map(json.dumps), st.builds(_nested, depths, scalars))


def _object(pairs: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{json.dumps(key)}: {value}" for key, value in pairs) + "}"


def bodies(field_names: list[str]):
    """JSON text aimed at one operation: its own field names (so choice fields and keys are hit) with
    hostile values, hostile keys, or a bare deeply nested array."""
    keys = st.one_of(st.sampled_from(field_names), nasty_text) if field_names else nasty_text
    return st.one_of(
        st.lists(st.tuples(keys, value_texts), max_size=6).map(_object),
        st.builds(_nested, depths, scalars),
    )


query_values = st.one_of(nasty_text, nasty_numbers.map(str))


def _operations(ops: APIClient) -> list[tuple[str, str, list[str], list[str]]]:
    """(method, path, query parameter names, body field names) of every operation of the live schema."""
    schema = ops.get("/api/v1/schema/?format=json").json()
    found = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                names = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"]
                fields = _body_fields(schema, operation)
                found.append((method, path, sorted(set(names) | set(EXTRA_PARAMETERS)), fields))
    return found


def _body_fields(schema: dict, operation: dict) -> list[str]:
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" in body:
        body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    return sorted(body.get("properties", {}))


def _is_error_shape(response) -> bool:
    if not response["Content-Type"].startswith("application/json"):
        return False
    body = response.json()
    return set(body) == {"error"} and {"code", "message", "fields"} <= set(body["error"])


def test_no_hostile_body_or_parameter_gets_a_server_error(world, unique, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # the token endpoint hashes
    ops = client_for(f"hostile-{unique}", OPS)
    problems: list[str] = []
    for method, path, parameters, fields in _operations(ops):
        _fuzz(ops, method, path, url_for(path, world.objects["A"]), parameters, bodies(fields), problems)
    assert not problems, f"{len(problems)} hostile request(s) got a bad answer:\n" + "\n".join(problems[:30])


def _fuzz(ops: APIClient, method: str, path: str, url: str, parameters: list[str], body_texts, problems: list[str]):
    @given(body=body_texts, query=st.dictionaries(st.sampled_from(parameters), query_values, max_size=3))
    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(HealthCheck))  # fmt: skip
    def hit(body: str, query: dict[str, str]) -> None:
        response = ops.generic(method.upper(), f"{url}?{_encode(query)}", body, content_type="application/json")
        if response.status_code >= 500 or (response.status_code >= 400 and not _is_error_shape(response)):
            problems.append(f"{method.upper()} {path} {query!r} {body[:120]!r}: {response.status_code} "
                            f"{response.content[:200]!r}")  # fmt: skip

    hit()


def _encode(query: dict[str, str]) -> str:
    """Percent-encode as UTF-8, lone surrogates as the bytes a hostile client would send (invalid UTF-8)."""
    from urllib.parse import quote

    return "&".join(
        f"{quote(key)}={quote(value.encode('utf-8', 'surrogatepass'), safe='')}" for key, value in query.items()
    )


def test_the_encoder_sends_lone_surrogates_as_invalid_utf8():
    assert _encode({"sku": "a\ud800"}) == "sku=a%ED%A0%80"
    assert re.fullmatch(r"limit=\d+", _encode({"limit": str(2**70)}))
