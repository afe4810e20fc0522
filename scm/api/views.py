"""API views of the shared kernel: the token endpoint, the global event log and the JSON 404."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.urls import Resolver404, resolve
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import permissions, status
from rest_framework.authtoken.models import Token
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from scm.api.permissions import ALL_ROLES, SHARED, DocsPermission, RolePermission
from scm.api.serializers import (
    EventPageSerializer,
    EventQuerySerializer,
    TokenRequestSerializer,
    TokenResponseSerializer,
)
from scm.api.throttling import TokenObtainRateThrottle
from scm.errors import DomainError
from scm.events.store import read_all


class JsonErrorsMixin:
    """Errors in the JSON error shape even from views that render YAML or HTML when they succeed."""

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class SchemaView(JsonErrorsMixin, SpectacularAPIView):
    permission_classes = [DocsPermission]
    access_exempt = "The schema describes the API, not data: any role, or everyone with API_DOCS_PUBLIC."


class SwaggerDocsView(JsonErrorsMixin, SpectacularSwaggerView):
    permission_classes = [DocsPermission]
    access_exempt = SchemaView.access_exempt


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    status = 400


class ObtainTokenView(APIView):
    """Exchange a username and password for the user's API token."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    access_exempt = "Exchanges a username and password for a token: open, throttled and locked out per login."
    throttle_classes = [TokenObtainRateThrottle]

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenResponseSerializer})
    def post(self, request):
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # The Django request, so the login lockout (django-axes) counts this failure with the dashboard's
        # and the admin's, and its middleware can answer a locked-out caller.
        user = authenticate(request._request, **data.validated_data)
        if user is None or not user.is_active:
            raise InvalidCredentials("Unable to log in with the given username and password.")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key}, status=status.HTTP_200_OK)


class EventListView(APIView):
    """The global event log in position order. Follow it by passing the last `next_after` as `after`.

    Readable by every role except supplier-bound integration tokens: the log holds every
    supplier's events.
    """

    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES}
    supplier_grants: dict = {}

    @extend_schema(
        parameters=[EventQuerySerializer],
        responses={200: EventPageSerializer},
    )
    def get(self, request):
        query = EventQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        events = read_all(
            after=params["after"],
            limit=params["limit"],
            stream=params.get("stream"),
            types=[params["type"]] if params.get("type") else None,
        )
        next_after = events[-1].position if events else params["after"]
        return Response(EventPageSerializer({"results": events, "next_after": next_after}).data)


@extend_schema(exclude=True)
class NotFoundView(APIView):
    """The last route under /api/v1/: any path no other route matched answers a JSON 404.

    Authentication runs first, so anonymous callers get 401 here as everywhere else. When the
    path with a trailing slash exists, the error says so (APIs do not redirect: a redirected
    POST loses its body).
    """

    permission_classes = [RolePermission]
    _ANY = ("get", "post", "put", "patch", "delete")
    role_grants = dict.fromkeys(_ANY, ALL_ROLES)
    supplier_grants = dict.fromkeys(_ANY, SHARED)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        fields = {"path": request.path}
        message = f"No API endpoint at {request.path}."
        if not request.path.endswith("/") and _is_real_route(request.path + "/"):
            fields["did_you_mean"] = request.path + "/"
            message += f" Did you mean {request.path}/ (with a trailing slash)?"
        raise _RouteNotFound(message, fields)


class _RouteNotFound(DomainError):
    code = "not_found"
    status = 404

    def __init__(self, message: str, fields: dict) -> None:
        super().__init__(message, **fields)


def _is_real_route(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return getattr(match.func, "view_class", None) is not NotFoundView
