"""Login lockout (django-axes): what a locked-out caller is told, and whose address is counted.

The dashboard login, the admin login and `POST /api/v1/auth/token/` all authenticate through
Django's `authenticate(request, ...)`, so axes' backend and its failure counter see all three: one
count per username and client address (settings `AXES_*`, from `LOGIN_*` in the environment).

- `lockout_response`: 429 with `Retry-After`; the API's JSON error shape under /api/, the
  `registration/locked_out.html` page elsewhere. It says how long to wait and how ops lift it,
  and never whether the password was right.
- `client_ip`: the same client address DRF's throttles use (`API_NUM_PROXIES` trusted proxies in
  `X-Forwarded-For`, else the socket's address), so a forged header cannot dodge the lockout.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework.throttling import BaseThrottle

from scm.api.errors import API_PREFIX, error_body

LOCKED_OUT_TEMPLATE = "registration/locked_out.html"


def client_ip(request: HttpRequest) -> str:
    return BaseThrottle().get_ident(request)


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    minutes = math.ceil(seconds / 60)
    headers = {"Retry-After": str(seconds)}
    if request.path.startswith(API_PREFIX):
        body = error_body(
            "locked_out",
            f"Too many failed logins for this account from this address: logins are refused for {minutes} "
            "minutes. Ops can lift the lockout sooner.",
            {"retry_after_seconds": seconds},
        )
        return JsonResponse(body, status=429, headers=headers)
    response = render(request, LOCKED_OUT_TEMPLATE, {"minutes": minutes}, status=429)
    response["Retry-After"] = headers["Retry-After"]
    return response
