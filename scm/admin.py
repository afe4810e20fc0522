"""The admin's read-only base: tables whose changes must come with events (ledgers, orders,
shipments, messages) are shown, never edited, in the admin; ops act through admin actions that
call the services."""

from __future__ import annotations

from django.contrib import admin, messages

from scm.errors import DomainError


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    pass


class MasterDataAdmin(admin.ModelAdmin):
    """Master data edited in the admin saves through its service's upsert (which validates and records
    the event): the key is fixed once created, and a refusal shows as a message, not an error page.
    Subclasses name the key field, the fields the upsert takes, and call it in `upsert`."""

    key_field = "code"
    upsert_fields: tuple[str, ...] = ()

    def upsert(self, key: str, **fields):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def get_readonly_fields(self, request, obj=None):
        return ((self.key_field,) if obj else ()) + tuple(self.readonly_fields)

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in self.upsert_fields if name in form.cleaned_data}
        try:
            saved = self.upsert(getattr(obj, self.key_field), **fields)
        except DomainError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            return
        obj.pk = saved.pk


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0
    can_delete = False
