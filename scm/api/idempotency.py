"""Idempotency-Key: a client may safely retry a POST; the work happens at most once.

Use the decorator on a handler (plain API view method or viewset action), or the mixin on a
generic create view:

    class OrderCreateView(APIView):
        @idempotent
        def post(self, request): ...

    class ReceiptViewSet(IdempotentCreateMixin, viewsets.GenericViewSet): ...

Semantics, per user and key:
- The first request runs the handler. Its response is stored in the same transaction as the
  handler's own writes, so it is stored exactly when the work committed.
- A repeat with the same method, path and body gets the stored response again, with the header
  `Idempotent-Replayed: true`, and the handler does not run.
- The same key with a different method, path or body answers 422 `idempotency_key_reused`.
- A request that failed (the handler raised, or answered 4xx/5xx) stores nothing and rolls its
  work back, so the client may retry it with the same key.
- Concurrent requests with one key serialise on the key's row: the record is inserted with
  `INSERT ... ON CONFLICT DO NOTHING` and then locked with `SELECT ... FOR UPDATE`. On PostgreSQL
  the second insert waits for the first transaction, so only one request runs the handler and
  the others replay its response.

Requests without the header run normally. Records older than `IDEMPOTENCY_RETENTION_HOURS` are
purged by a periodic task; after that a key may be used again.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http.request import RawPostDataException
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from scm.api.models import IdempotencyRecord
from scm.errors import DomainError

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
_STORED_HEADERS = ("Location",)


class InvalidIdempotencyKey(DomainError):
    code = "invalid_idempotency_key"
    status = 400


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422


class _RollBack(Exception):
    """Carries a failed response out of the transaction so that its work is undone."""

    def __init__(self, response: Response) -> None:
        self.response = response


def request_fingerprint(request) -> str:
    """SHA-256 of the raw body; of its canonical JSON when a parser has already consumed the body."""
    try:
        raw = _buffered_body(request._request)
    except RawPostDataException:
        raw = json.dumps(request.data, sort_keys=True, separators=(",", ":"), cls=JSONEncoder).encode()
    return hashlib.sha256(raw).hexdigest()


def _buffered_body(http) -> bytes:
    """The raw body, kept for the parser afterwards, as `HttpRequest.body` does.

    Not `HttpRequest.body` itself: its DATA_UPLOAD_MAX_MEMORY_SIZE check would refuse bodies that
    a view accepts with a larger `max_body_bytes`. The API edge middleware has already refused
    bodies over the view's limit, and Django never reads past Content-Length.
    """
    if hasattr(http, "_body"):
        return http._body
    if http._read_started:
        raise RawPostDataException("the body was already read as a stream")
    http._body = http.read()
    http._stream = io.BytesIO(http._body)
    return http._body


def run_idempotently(request, handler: Callable[[], Response]) -> Response:
    """Run `handler` under the request's Idempotency-Key (if any) and return its or the stored response."""
    key = request.headers.get(HEADER)
    user = request.user
    if key is None or not getattr(user, "is_authenticated", False):
        return handler()
    if not _KEY_PATTERN.match(key):
        raise InvalidIdempotencyKey(
            f"{HEADER} must be 1 to 255 printable ASCII characters without spaces.", header=HEADER
        )
    fingerprint = request_fingerprint(request)
    method, path = request.method.upper(), request.path[:500]
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.bulk_create(
                [IdempotencyRecord(user=user, key=key, method=method, path=path, request_hash=fingerprint)],
                ignore_conflicts=True,
            )
            record = IdempotencyRecord.objects.select_for_update().get(user=user, key=key)
            if record.response_status is not None:
                return _replay(record, method=method, path=path, fingerprint=fingerprint)
            response = handler()
            if not isinstance(response, Response):
                raise TypeError("idempotent handlers must return a rest_framework Response")
            if response.status_code >= 400:
                raise _RollBack(response)
            record.response_status = response.status_code
            record.response_body = "" if response.data is None else json.dumps(response.data, cls=JSONEncoder)
            record.response_headers = {name: response[name] for name in _STORED_HEADERS if response.has_header(name)}
            record.save(update_fields=["response_status", "response_body", "response_headers"])
            return response
    except _RollBack as failed:
        return failed.response


def _replay(record: IdempotencyRecord, *, method: str, path: str, fingerprint: str) -> Response:
    if (record.method, record.path, record.request_hash) != (method, path, fingerprint):
        raise IdempotencyKeyReused(
            f"This {HEADER} was already used for a different request; use a new key for a new request.",
            key=record.key,
            first_used_for=f"{record.method} {record.path}",
            first_used_at=record.created_at.isoformat(),
        )
    data: Any = json.loads(record.response_body) if record.response_body else None
    headers = {**record.response_headers, REPLAYED_HEADER: "true"}
    return Response(data, status=record.response_status, headers=headers)


def idempotent(func: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate a view handler `(self, request, *args, **kwargs)` to honour Idempotency-Key."""

    @functools.wraps(func)
    def wrapper(self, request, *args, **kwargs):
        return run_idempotently(request, lambda: func(self, request, *args, **kwargs))

    wrapper.idempotent = True  # read by scm.api.schema to document the header
    return wrapper


class IdempotentCreateMixin:
    """For generic create views and viewsets: `create` honours Idempotency-Key."""

    @idempotent
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)
