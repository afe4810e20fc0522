"""API views of the shared kernel: the token endpoint and the global event log."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.views import APIView

from scm.api.serializers import (
    EventPageSerializer,
    EventQuerySerializer,
    TokenRequestSerializer,
    TokenResponseSerializer,
)
from scm.errors import DomainError
from scm.events.store import read_all


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    status = 400


class ObtainTokenView(APIView):
    """Exchange a username and password for the user's API token."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenResponseSerializer})
    def post(self, request):
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, **data.validated_data)
        if user is None or not user.is_active:
            raise InvalidCredentials("Unable to log in with the given username and password.")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key}, status=status.HTTP_200_OK)


class EventListView(APIView):
    """The global event log in position order. Follow it by passing the last `next_after` as `after`."""

    @extend_schema(
        parameters=[
            OpenApiParameter("after", int, description="Return events with a higher position."),
            OpenApiParameter("limit", int, description="At most this many events (1-1000)."),
            OpenApiParameter("stream", str, description="Only this stream, e.g. order-42."),
            OpenApiParameter("type", str, description="Only this event type."),
        ],
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
