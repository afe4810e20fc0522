"""Read-only admin for the log: ops can search and read events, never change them."""

from django.contrib import admin

from scm.admin import ReadOnlyAdmin
from scm.events.models import Event, Subscription


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("position", "type", "stream", "version", "occurred_at", "recorded_at")
    list_filter = ("type",)
    search_fields = ("stream", "type", "event_id")
    date_hierarchy = "recorded_at"
    ordering = ("-position",)


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("name", "checkpoint", "processed_count", "failed_position", "failure_count", "updated_at")
    readonly_fields = ("name", "checkpoint", "processed_count", "last_error", "failed_position", "failure_count")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
