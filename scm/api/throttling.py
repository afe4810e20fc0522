"""Rate limits, so one integration client cannot starve the others.

Rates come from `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` (set from the environment in settings)
and are read on every request rather than once at import, so tests and operators can change them.
Counters live in Django's default cache: configure a shared cache (Redis) in production, or each
web process counts on its own.

- `IntegrationRateThrottle` (scope `integration`, `API_THROTTLE_INTEGRATION`, e.g. `600/min`):
  per user, applied to users in the integration role only; planners and ops are not limited.
- `TokenObtainRateThrottle` (scope `auth_token`, `API_THROTTLE_AUTH_TOKEN`): per client address on
  the token endpoint, against password guessing.

A throttled request answers 429 with code `throttled`, a `Retry-After` header and
`fields.retry_after_seconds`.
"""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from scm.roles import INTEGRATION, has_role


class _LiveRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return rate or None


class IntegrationRateThrottle(_LiveRateThrottle):
    scope = "integration"

    def get_cache_key(self, request, view) -> str | None:
        user = request.user
        if not getattr(user, "is_authenticated", False) or user.is_superuser or not has_role(user, INTEGRATION):
            return None
        return self.cache_format % {"scope": self.scope, "ident": user.pk}


class TokenObtainRateThrottle(_LiveRateThrottle):
    scope = "auth_token"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
