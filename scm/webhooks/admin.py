"""Admin for webhooks: ops manage endpoints and redeliver dead deliveries. Writes go through services."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from scm import outbound
from scm.errors import DomainError
from scm.events import schemas
from scm.outbound.models import BreakerState
from scm.outbound.selectors import with_breaker
from scm.webhooks import services
from scm.webhooks.models import WebhookDelivery, WebhookEndpoint
from scm.webhooks.selectors import BREAKER_PREFIX


class WebhookEndpointForm(forms.ModelForm):
    """The secret is write-only, as in the API: never rendered back (not even masked in the page source).
    On an existing endpoint a blank secret keeps the current one; a new value rotates it."""

    url = forms.URLField(max_length=500, assume_scheme="https")
    secret = forms.CharField(
        min_length=16,
        max_length=256,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="At least 16 characters. Never shown again.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "event_types", "secret", "active")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.pop("secret", None)
        if self.instance.pk:
            self.fields["secret"].help_text = "Leave blank to keep the current secret; enter a new one to rotate it."

    def clean_secret(self):
        value = self.cleaned_data.get("secret") or ""
        if value:
            return value
        if not self.instance.pk:
            raise forms.ValidationError("A new endpoint needs a secret.")
        return WebhookEndpoint.objects.values_list("secret", flat=True).get(pk=self.instance.pk)

    def clean_url(self):
        url = self.cleaned_data.get("url") or ""
        try:
            outbound.check_url(url, what="webhook URL")
        except outbound.AddressRefused as exc:
            raise forms.ValidationError(exc.message) from None
        return url

    def clean_event_types(self):
        value = self.cleaned_data.get("event_types") or []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise forms.ValidationError('Enter a JSON list of event type names, e.g. ["OrderCreated"], or [].')
        unknown = sorted(set(value) - set(schemas.known_event_types()))
        if unknown:
            raise forms.ValidationError(f"Unknown event type(s): {', '.join(unknown)}.")
        return value


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("id", "url", "description", "active", "breaker", "start_position", "created_at")
    list_filter = ("active",)
    search_fields = ("url", "description")
    readonly_fields = ("start_position", "created_by", "created_at", "updated_at", "breaker")

    def get_queryset(self, request):
        return with_breaker(super().get_queryset(request), prefix=BREAKER_PREFIX)

    @admin.display(description="Breaker")
    def breaker(self, obj) -> str:
        """closed, or open until when and why (the breaker list under Outbound calls has the rest)."""
        state = getattr(obj, "breaker_state", None) or BreakerState.CLOSED
        if state == BreakerState.CLOSED:
            return "closed"
        until = getattr(obj, "breaker_opened_until", None)
        shown = f"{state} until {until:%Y-%m-%d %H:%M:%S}" if until and state == BreakerState.OPEN else state
        return f"{shown}: {getattr(obj, 'breaker_last_error', '') or ''}"[:200]

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in ("url", "description", "event_types", "secret", "active")}
        if change:
            saved = services.webhook_endpoint_update(endpoint_id=obj.pk, **fields)
        else:
            saved = services.webhook_endpoint_create(actor=request.user, **fields)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.webhook_endpoint_delete(endpoint_id=obj.pk)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id", "endpoint", "event_position", "event_type", "stream", "status", "attempts",
        "next_attempt_at", "last_status_code", "delivered_at",
    )
    list_filter = ("status", "event_type")
    search_fields = ("stream", "event_id")
    list_select_related = ("endpoint",)
    actions = ["redeliver"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Redeliver selected dead deliveries")
    def redeliver(self, request, queryset):
        selected = list(queryset.values_list("pk", flat=True))
        done = 0
        for delivery_id in selected:
            try:
                services.webhook_delivery_redeliver(delivery_id=delivery_id)
                done += 1
            except DomainError:
                pass  # not DEAD (any more): the service refused and changed nothing
        skipped = len(selected) - done
        self.message_user(request, f"{done} delivery(ies) queued again; {skipped} skipped (not DEAD).")
