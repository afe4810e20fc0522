"""Inbound messages API: raw POST, list, status, raw bytes, reprocess.

A supplier-bound token posts and reads its own supplier's messages only (`supplier_grants`, OWN);
another supplier's message answers 404 like one that does not exist. The raw bytes are for ops and
the sender's own token; planners only when RAW_MESSAGES_READABLE_BY_PLANNERS is set.

Inbound messages take any body: the bytes are read straight from the request stream (never through
a parser, never decoded), stored byte-exact and committed, then processed. The answer is 202 with
the message's id and status (already final when Celery runs eagerly). Bodies above
SUPPLIER_MESSAGE_MAX_BYTES (default 5 MiB) answer 413 `payload_too_large`.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpResponse
from django.http.request import RawPostDataException
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.api.serializers import key_is_plausible
from inventory.api.views import errors
from scm.api.pagination import CursorPagination
from scm.api.permissions import ALL_ROLES, OPS_ONLY, OWN, RolePermission
from scm.api.supplier_scope import bound_supplier_code, scope_to_bound_supplier
from scm.roles import INTEGRATION, PLANNER
from suppliers import inbound, selectors
from suppliers.api.serializers import (
    CODE_MAX,
    InboundAcceptedSerializer,
    InboundMessageSerializer,
    InboundPostQuerySerializer,
    InboundQuerySerializer,
)
from suppliers.api.views import id_or_404
from suppliers.exceptions import (
    MessageNotFound,
    MessageTooLarge,
    UnknownSupplier,
)
from suppliers.models import InboundMessage, MessageSource


class RawBodyParser(BaseParser):
    """Declares that any media type is accepted; the view reads the bytes itself and never parses them."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):  # pragma: no cover - never called
        return stream.read()



# --- Inbound messages ----------------------------------------------------------------------------


def _messages(request) -> QuerySet[InboundMessage]:
    return scope_to_bound_supplier(selectors.inbound_messages(), request.user)


def _message(request, message_id: int) -> InboundMessage:
    found = _messages(request).filter(pk=id_or_404(message_id, MessageNotFound)).first()
    if found is None:
        raise MessageNotFound(message_id)
    return found


def _read_body(request) -> bytes:
    """The request body as sent, refusing more than the limit without reading it all."""
    limit = settings.SUPPLIER_MESSAGE_MAX_BYTES
    http = request._request
    declared = http.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        raise MessageTooLarge(size=int(declared), limit=limit)
    try:
        body = http.read(limit + 1) if not hasattr(http, "_body") else http._body
    except RawPostDataException:
        body = http.body
    if len(body) > limit:
        raise MessageTooLarge(size=len(body), limit=limit)
    return body


@extend_schema_view(
    get=extend_schema(
        summary="List inbound messages",
        description="Newest first; filter by `status`, `supplier`, `message_format`. Cursor-paginated. Raw bytes "
        "are at `/inbound-messages/{id}/raw/`.",
        parameters=[InboundQuerySerializer],
    )
)
class InboundMessageListView(generics.ListAPIView):
    max_body_bytes = "SUPPLIER_MESSAGE_MAX_BYTES"  # read by scm.api.middleware instead of API_MAX_BODY_BYTES
    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES, "post": (INTEGRATION,)}
    supplier_grants = {"get": OWN, "post": OWN}
    parser_classes = [RawBodyParser]
    serializer_class = InboundMessageSerializer
    pagination_class = CursorPagination
    ordering = "-pk"

    def get_queryset(self) -> QuerySet[InboundMessage]:
        query = InboundQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        rows = _messages(self.request)
        if params.get("status"):
            rows = rows.filter(status=params["status"])
        if params.get("supplier"):
            rows = rows.filter(supplier__code=params["supplier"])
        if params.get("message_format"):
            rows = rows.filter(format=params["message_format"])
        return rows

    @extend_schema(
        summary="Post a raw supplier message (X12, JSON or CSV)",
        description="The body is stored byte-exact first (sha256 of the raw bytes), then processed: `status` is "
        "RECEIVED while processing is queued, else APPLIED, QUARANTINED (see `errors`) or DUPLICATE. The "
        "format is recognised from the bytes. `?supplier=<code>` names the sender when the token is not bound "
        f"to a supplier. Limit: SUPPLIER_MESSAGE_MAX_BYTES (default {5 * 1024 * 1024} bytes) → 413.",
        parameters=[OpenApiParameter("supplier", str, description="Supplier code (unbound tokens only).")],
        request={
            "application/edi-x12": OpenApiTypes.BINARY,
            "application/json": OpenApiTypes.BINARY,
            "text/csv": OpenApiTypes.BINARY,
            "application/octet-stream": OpenApiTypes.BINARY,
        },
        responses={
            202: InboundAcceptedSerializer,
            **errors(
                e403="A supplier-bound token named another supplier.",
                e413="The body is above the limit (`payload_too_large`).",
                e422="`?supplier=` names no supplier (`unknown_supplier`).",
            ),
        },
    )
    def post(self, request):
        query = InboundPostQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        bound = bound_supplier_code(request.user)
        code = bound or query.validated_data.get("supplier")
        if bound and query.validated_data.get("supplier") not in (None, bound):
            raise PermissionDenied(f"This token acts for supplier {bound}.")
        supplier = None
        if code:
            supplier = selectors.suppliers().filter(code=code).first() if key_is_plausible(code, CODE_MAX) else None
            if supplier is None:
                raise UnknownSupplier(code)
        body = _read_body(request)
        message = inbound.inbound_message_store(
            body=body,
            source=MessageSource.API,
            supplier=supplier,
            content_type=request.META.get("CONTENT_TYPE", ""),
        )
        inbound.enqueue_processing(message.pk)
        message.refresh_from_db(fields=["status", "errors"])
        return Response(
            InboundAcceptedSerializer(
                {
                    "id": message.pk,
                    "status": message.status,
                    "sha256": message.sha256,
                    "size": message.size,
                    "format": message.format,
                    "errors": message.errors,
                }
            ).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/api/v1/inbound-messages/{message.pk}/"},
        )


class InboundMessageDetailView(APIView):
    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES}
    supplier_grants = {"get": OWN}

    @extend_schema(summary="Read an inbound message", responses={200: InboundMessageSerializer})
    def get(self, request, message_id: int):
        return Response(InboundMessageSerializer(_message(request, message_id)).data)


class InboundMessageRawView(APIView):
    """The bytes a supplier sent: ops and the supplier's own token; planners only by setting.

    Raw messages can hold what no parsed field shows (prices, other buyers' references in a
    forwarded file), so they are not for every role the way the parsed message is.
    """

    permission_classes = [RolePermission]
    supplier_grants = {"get": OWN}

    @property
    def role_grants(self) -> dict:
        return {"get": (PLANNER,) if settings.RAW_MESSAGES_READABLE_BY_PLANNERS else OPS_ONLY}

    @extend_schema(
        summary="The stored bytes of an inbound message, unchanged",
        description="Served as application/octet-stream with the original content type in `X-Original-Content-Type`"
        " and the sha256 in `X-Content-SHA256`.",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The raw message.")
        },
    )
    def get(self, request, message_id: int):
        message = _message(request, message_id)
        body, content_type = selectors.inbound_message_raw(message_id=message.pk)
        response = HttpResponse(body, content_type="application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="inbound-message-{message.pk}.bin"'
        response["X-Content-SHA256"] = message.sha256
        if content_type:
            response["X-Original-Content-Type"] = content_type.encode("ascii", "replace").decode("ascii")
        return response


class InboundMessageReprocessView(APIView):
    permission_classes = [RolePermission]
    role_grants = {"post": OPS_ONLY}
    supplier_grants: dict = {}

    @extend_schema(
        summary="Reprocess a quarantined message",
        description="After fixing master data or a mapping. 409 `not_reprocessable` unless QUARANTINED.",
        request=None,
        responses={200: InboundMessageSerializer, **errors(e409="The message is not QUARANTINED.")},
    )
    def post(self, request, message_id: int):
        message = _message(request, message_id)
        inbound.inbound_message_reprocess(message_id=message.pk)
        return Response(InboundMessageSerializer(_message(request, message_id)).data)
