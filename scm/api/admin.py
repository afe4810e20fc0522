"""Admin for API client settings and, read-only, the stored idempotent responses."""

from django.contrib import admin

from scm.api.models import IdempotencyRecord, IntegrationProfile


@admin.register(IntegrationProfile)
class IntegrationProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "supplier_code", "updated_at")
    search_fields = ("user__username", "supplier_code")
    raw_id_fields = ("user",)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ("key", "user", "method", "path", "response_status", "created_at")
    list_filter = ("method", "response_status")
    search_fields = ("key", "path", "user__username")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
