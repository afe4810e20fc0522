"""Ops admin for supplier profiles (registered by `suppliers.admin`): every save is a new version
through `supplier_profile_update`; versions are read-only afterwards. A quarantine reason links to
`add/?supplier=<id>&document_type=856&field=date_formats&element=DTM02&value=...`, which starts from
the current version with that field in focus and the failing element and value named."""

from __future__ import annotations

import copy
import json

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from scm.errors import DomainError
from suppliers.models import Supplier
from suppliers.profiles.fixes import FIELD_LABELS
from suppliers.profiles.forms import ProfileVersionForm, initial_from_settings
from suppliers.profiles.models import SupplierProfileVersion
from suppliers.profiles.selectors import profile_version
from suppliers.services.profiles import supplier_profile_update


@admin.register(SupplierProfileVersion)
class SupplierProfileVersionAdmin(admin.ModelAdmin):
    form = ProfileVersionForm
    list_display = ("supplier", "document_type", "version", "changed", "note", "created_by", "created_at")
    list_filter = ("document_type", "supplier")
    search_fields = ("supplier__code", "note")
    readonly_fields = ("supplier", "document_type", "version", "settings_json", "changed_fields", "note", "created_by")

    @admin.display(description="changed")
    def changed(self, obj: SupplierProfileVersion) -> str:
        return ", ".join(FIELD_LABELS.get(name, name) for name in obj.changed_fields) or "–"

    @admin.display(description="settings")
    def settings_json(self, obj: SupplierProfileVersion):
        return format_html("<pre>{}</pre>", json.dumps(obj.settings, indent=2))

    def get_fields(self, request, obj=None):
        return self.readonly_fields if obj else super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        focus = request.GET.get("field")
        if obj is None and focus in form.base_fields:
            # The form class is new per request, its field objects are not: change a copy.
            field = form.base_fields[focus] = copy.deepcopy(form.base_fields[focus])
            field.widget.attrs["autofocus"] = "autofocus"
            field.widget.attrs["data-quarantine-fix"] = "1"
            failed = " ".join(part for part in (request.GET.get("element"), repr(request.GET.get("value", ""))) if part)
            field.help_text = format_html(
                "<strong>Quarantined on {}</strong>: change this field to fix it. {}",
                failed,
                mark_safe(field.help_text),  # our own help text, never user input
            )
        return form

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        supplier, document_type = request.GET.get("supplier"), request.GET.get("document_type")
        if supplier and str(supplier).isdigit() and document_type:
            code = Supplier.objects.filter(pk=int(supplier)).values_list("code", flat=True).first()
            current = profile_version(supplier=code, document_type=document_type) if code else None
            initial.update(initial_from_settings(current.settings if current else None))
            element = request.GET.get("element")
            if request.GET.get("field") == "date_formats" and element and element not in initial["date_formats"]:
                initial["date_formats"] = "\n".join(filter(None, (initial["date_formats"], f"{element}: ")))
        return initial

    def save_model(self, request, obj, form, change):
        try:
            version, created = supplier_profile_update(
                supplier=form.cleaned_data["supplier"].code,
                document_type=form.cleaned_data["document_type"],
                settings=form.cleaned_data["settings"],
                note=form.cleaned_data.get("note") or "",
                actor=f"user:{request.user.get_username()}",
            )
        except DomainError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            return
        obj.pk, obj.version = version.pk, version.version
        obj._state.adding = False
        if not created:
            self.message_user(request, f"Nothing changed: version {version.version} stays current.", messages.WARNING)

    def save_related(self, request, form, formsets, change):
        pass

    def has_change_permission(self, request, obj=None):
        # A saved version is never changed (a change is a new version, through "add"); it is shown
        # read-only through the view permission, whatever the HTTP method.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False
