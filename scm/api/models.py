"""Tables of the API layer: integration profiles (supplier binding) and stored idempotent responses."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class IntegrationProfile(models.Model):
    """Extra facts about an API client account; today only the supplier it is bound to.

    An empty `supplier_code` means the account is not bound and sees every supplier.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="integration_profile")
    supplier_code = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="Code of the supplier this account acts for; empty for no binding.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user_id"]

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.supplier_code or '(all suppliers)'}"


class IdempotencyRecord(models.Model):
    """The response to the first request a client sent with one Idempotency-Key.

    Written in the same transaction as the work the request did, so it exists exactly when that
    work committed. `request_hash` is the SHA-256 of the raw request body.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The response body as JSON text.")
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}] -> {self.response_status}"
