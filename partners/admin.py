"""Ops admin for partner transport: connections (saved through the service, secrets write-only), the
outbox (read-only, "Resend" for dead letters), AS2 messages with their MDNs, and pulled files."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from partners import services
from partners.connections import EDITABLE, partner_connection_save
from partners.forms import SECRET_LABELS, PartnerConnectionForm
from partners.models import OUT, As2Message, DeliveryAttempt, OutboxEntry, PartnerConnection, PulledFile
from scm.errors import DomainError

SECRET_NOTE = "Secrets are write-only: they are sealed with PARTNER_SECRETS_KEY and never displayed."


class ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PartnerConnection)
class PartnerConnectionAdmin(admin.ModelAdmin):
    form = PartnerConnectionForm
    list_display = ("supplier", "protocol", "active", "consecutive_failures", "breaker_open_until", "last_pulled_at")
    list_filter = ("protocol", "active")
    search_fields = ("supplier__code", "as2_partner_id", "sftp_host")
    readonly_fields = ("secrets_stored", "consecutive_failures", "breaker_open_until", "last_pulled_at")
    fieldsets = (
        (None, {"fields": ("supplier", "protocol", "active", "send_documents_since", "secrets_stored")}),
        (
            "AS2",
            {
                "fields": (
                    "as2_our_id",
                    "as2_partner_id",
                    "as2_url",
                    "as2_our_certificate",
                    "as2_private_key",
                    "as2_partner_certificate",
                    "as2_sign",
                    "as2_encrypt",
                    "as2_signature_algorithm",
                    "as2_encryption_algorithm",
                    "as2_mdn_mode",
                    "as2_mdn_signed",
                    "as2_require_encryption",
                )
            },
        ),
        (
            "SFTP (their server)",
            {
                "fields": (
                    "sftp_host",
                    "sftp_port",
                    "sftp_username",
                    "sftp_password",
                    "sftp_private_key",
                    "sftp_host_key",
                    "sftp_inbox_path",
                    "sftp_outbox_path",
                    "sftp_after_pull",
                    "sftp_archive_path",
                )
            },
        ),
        ("HTTPS POST", {"fields": ("https_url", "https_auth_header", "https_auth")}),
        ("Secrets", {"fields": ("clear_secrets",), "description": SECRET_NOTE}),
        ("Breaker", {"fields": ("consecutive_failures", "breaker_open_until", "last_pulled_at")}),
    )

    @admin.display(description="secrets stored")
    def secrets_stored(self, obj: PartnerConnection) -> str:
        from partners.connections import SECRET_COLUMNS

        stored = [SECRET_LABELS[name] for name, column in SECRET_COLUMNS.items() if getattr(obj, column)]
        return ", ".join(stored) or "none"

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "supplier") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in EDITABLE if name in form.cleaned_data}
        try:
            saved = partner_connection_save(supplier=obj.supplier.code, secrets_given=form.secrets_given(), **fields)
        except DomainError as exc:
            # Reached only when the form's own validation passed; show the service's reason.
            raise ValidationError(exc.message) from None
        obj.pk = saved.pk

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)

        class ServiceValidated(form_class):
            def _post_clean(inner):
                super()._post_clean()
                if inner.errors:
                    return
                try:
                    _dry_run(inner, obj)
                except DomainError as exc:
                    inner.add_error(None, exc.message)

        return ServiceValidated

    def has_delete_permission(self, request, obj=None):
        return False


def _dry_run(form, obj) -> None:
    """Validate through the service in a transaction that is rolled back, so the admin shows the
    service's reason on the form instead of a server error on save."""
    from django.db import transaction

    supplier = form.cleaned_data.get("supplier") or (obj.supplier if obj else None)
    if supplier is None:
        return
    fields = {name: form.cleaned_data[name] for name in EDITABLE if name in form.cleaned_data}

    class _Rollback(Exception):
        pass

    try:
        with transaction.atomic():
            partner_connection_save(supplier=supplier.code, secrets_given=form.secrets_given(), **fields)
            raise _Rollback
    except _Rollback:
        pass


class DeliveryAttemptInline(ReadOnly, admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    fields = ("number", "started_at", "finished_at", "outcome", "error")
    readonly_fields = fields


@admin.register(OutboxEntry)
class OutboxEntryAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("pk", "kind", "purchase_order", "connection", "protocol", "status", "attempts", "next_attempt_at")
    list_filter = ("status", "protocol", "kind")
    search_fields = ("purchase_order", "remote_name", "connection__supplier__code")
    inlines = [DeliveryAttemptInline]
    actions = ["resend"]

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Resend the selected dead letters")
    def resend(self, request, queryset):
        actor = f"user:{request.user.get_username()}"
        done = 0
        for entry_id in queryset.filter(status=OUT.DEAD).values_list("pk", flat=True):
            try:
                services.outbox_entry_resend(entry_id=entry_id, actor=actor)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"Entry {entry_id}: {exc.message}", messages.ERROR)
        self.message_user(request, f"{done} dead letter(s) queued again.", messages.SUCCESS)


@admin.register(As2Message)
class As2MessageAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("pk", "direction", "connection", "message_id", "status", "mdn_disposition", "created_at")
    list_filter = ("direction", "status")
    search_fields = ("message_id", "connection__supplier__code")
    exclude = ("body", "mdn_body")


@admin.register(PulledFile)
class PulledFileAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("pk", "connection", "remote_path", "size", "inbound_message", "stored_at", "removed_at")
    search_fields = ("remote_path", "sha256")
