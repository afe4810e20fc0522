"""Pagination: cursors for lists that keep growing, bounded limit/offset for master data.

Cursor pagination for lists that keep growing (orders, inbound messages, webhook deliveries).

Offsets drift when rows are added while a client pages through (it sees a row twice or misses
one); a cursor remembers the last row seen instead, so pages stay stable however fast the list
grows. Responses look like

    {"next": "<url with ?cursor=...>", "previous": "<url or null>", "results": [...]}

and a client follows `next` until it is null. `limit` (1..1000, default 100) sets the page size;
an out-of-range `limit` or a damaged cursor answers 400 instead of being silently corrected.
Cursors are signed, so a client cannot forge one that makes the database compare a key with
something that is not a key.

Views may set `ordering` to a unique, never-changing field (default: newest first by primary key):

    class OrderListView(generics.ListAPIView):
        pagination_class = CursorPagination
        ordering = "-pk"

Master-data lists (items, locations, customers, suppliers, ...) use `LimitOffsetPagination`, the
project default: `limit` 1..1000 (default 100) and `offset` 0..2^31-1; anything else (negative,
not a number, larger than a database integer) answers 400 instead of being corrected silently or
reaching SQL.
"""

from __future__ import annotations

from django.core import signing
from rest_framework import exceptions, pagination
from rest_framework.utils.urls import replace_query_param

_SALT = "scm.api.pagination.cursor"
MAX_PAGE_SIZE = 1000
MAX_OFFSET = 2**31 - 1


def bounded_int(request, name: str, *, default: int, low: int, high: int) -> int:
    """The query parameter `name` as an integer in low..high, `default` when absent; else a 400."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None
    if value is None or not low <= value <= high:
        raise exceptions.ValidationError({name: [f"Must be an integer from {low} to {high}."]})
    return value


class InvalidCursor(exceptions.APIException):
    status_code = 400
    default_detail = "The cursor is not valid; start again without one or follow the `next` link."
    default_code = "invalid_cursor"


class CursorPagination(pagination.CursorPagination):
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "limit"
    page_size_query_description = "Number of results per page (1-1000, default 100)."
    cursor_query_description = "Opaque cursor from a `next` or `previous` link."
    ordering = "-pk"

    def get_ordering(self, request, queryset, view):
        """The view's `ordering` when it declares one (and has no ordering filter), else the class default."""
        has_ordering_filter = any(hasattr(f, "get_ordering") for f in getattr(view, "filter_backends", []))
        view_ordering = getattr(view, "ordering", None)
        if view_ordering and not has_ordering_filter:
            return (view_ordering,) if isinstance(view_ordering, str) else tuple(view_ordering)
        return super().get_ordering(request, queryset, view)

    def get_page_size(self, request) -> int:
        return bounded_int(
            request, self.page_size_query_param, default=self.page_size, low=1, high=self.max_page_size
        )

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters

    def encode_cursor(self, cursor: pagination.Cursor) -> str:
        token = signing.dumps([cursor.offset, int(cursor.reverse), cursor.position], salt=_SALT, compress=True)
        return replace_query_param(self.base_url, self.cursor_query_param, token)

    def decode_cursor(self, request) -> pagination.Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            offset, reverse, position = signing.loads(encoded, salt=_SALT)
        except (signing.BadSignature, TypeError, ValueError) as exc:
            raise InvalidCursor() from exc
        valid = (
            isinstance(offset, int)
            and 0 <= offset <= self.offset_cutoff
            and reverse in (0, 1)
            and (position is None or isinstance(position, str))
        )
        if not valid:
            raise InvalidCursor()
        return pagination.Cursor(offset=offset, reverse=bool(reverse), position=position)


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """`limit` 1..1000 (default 100) and `offset` 0..2^31-1, each checked: out of range is a 400."""

    default_limit = 100
    max_limit = MAX_PAGE_SIZE

    def get_limit(self, request) -> int:
        return bounded_int(request, self.limit_query_param, default=self.default_limit, low=1, high=self.max_limit)

    def get_offset(self, request) -> int:
        return bounded_int(request, self.offset_query_param, default=0, low=0, high=MAX_OFFSET)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, MAX_OFFSET)}
        for parameter in parameters:
            low, high = bounds[parameter["name"]]
            parameter["schema"].update(minimum=low, maximum=high)
        return parameters
