"""The admin's read-only base: tables whose changes must come with events (ledgers, orders,
shipments, messages) are shown, never edited, in the admin; ops act through admin actions that
call the services."""

from __future__ import annotations

from django.contrib import admin


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    pass


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0
    can_delete = False
