"""Admin for breakers: ops read every partner's circuit and may close one by hand."""

from __future__ import annotations

from django.contrib import admin

from scm.outbound.breaker import breaker_close
from scm.outbound.models import Breaker


@admin.register(Breaker)
class BreakerAdmin(admin.ModelAdmin):
    list_display = (
        "name", "state", "consecutive_failures", "opened_until", "last_failure_at", "times_opened", "last_error",
    )
    list_filter = ("state",)
    search_fields = ("name",)
    actions = ("close_breakers",)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("outbound.change_breaker"):
            actions.pop("close_breakers", None)
        return actions

    @admin.action(description="Close the circuit (let calls through again)")
    def close_breakers(self, request, queryset):
        closed = sum(breaker_close(name=name) for name in queryset.values_list("name", flat=True))
        self.message_user(request, f"{closed} circuit(s) closed.")
