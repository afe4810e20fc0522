"""Ops admin for suppliers. Master data saves through the services; orders, messages and polls are
read-only here (their changes come with events): ops act on them through the actions, which call
the services — above all "Reprocess", after fixing the mapping or master data a quarantine names."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from scm import outbound
from scm.admin import MasterDataAdmin, ReadOnlyAdmin, ReadOnlyInline
from scm.errors import DomainError
from suppliers import inbound, services
from suppliers.drop_folders import drop_folder_resolve
from suppliers.exceptions import DropFolderRefused
from suppliers.models import (
    IN,
    InboundMessage,
    OutboundMessage,
    PollAttempt,
    PurchaseOrder,
    PurchaseOrderLine,
    ShipNotice,
    ShipNoticeLine,
    Supplier,
    SupplierInvoice,
    SupplierItem,
)
from suppliers.profiles.fixes import fix_for

RAW_PREVIEW_BYTES = 20_000


class SupplierItemInline(admin.TabularInline):
    model = SupplierItem
    extra = 0
    fields = ("supplier_part", "sku", "pack_size", "lead_time_days")

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request, obj=None):
        return False


class SupplierAdminForm(forms.ModelForm):
    """Refuses a feed URL or drop folder the outbound policy or the drop folder root refuses, as a
    form error on the field (the service checks again when saving)."""

    feed_url = forms.URLField(max_length=500, required=False, assume_scheme="https")

    class Meta:
        model = Supplier
        fields = ("code", *services.SUPPLIER_FIELDS)

    def clean_feed_url(self):
        value = self.cleaned_data.get("feed_url") or ""
        if value:
            try:
                outbound.check_url(value, what="feed_url")
            except outbound.AddressRefused as exc:
                raise forms.ValidationError(exc.message) from None
        return value

    def clean_drop_folder(self):
        value = self.cleaned_data.get("drop_folder") or ""
        if value:
            try:
                drop_folder_resolve(value)
            except DropFolderRefused as exc:
                raise forms.ValidationError(exc.message) from None
        return value


@admin.register(Supplier)
class SupplierAdmin(MasterDataAdmin):
    form = SupplierAdminForm
    list_display = (
        "code",
        "name",
        "active",
        "isa_id",
        "edifact_id",
        "formats",
        "feed_url",
        "drop_folder",
        "last_polled_at",
    )
    list_filter = ("active",)
    search_fields = ("code", "name", "isa_id", "edifact_id")
    readonly_fields = ("last_polled_at", "feed_etag", "next_isa_control", "next_gs_control", "next_st_control")
    inlines = [SupplierItemInline]

    upsert_fields = services.SUPPLIER_FIELDS

    def upsert(self, key, **fields):
        return services.supplier_upsert(code=key, **fields)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SupplierItem)
class SupplierItemAdmin(admin.ModelAdmin):
    """Where ops add the mapping an `unknown_supplier_part` quarantine asks for."""

    list_display = ("supplier", "supplier_part", "sku", "pack_size", "lead_time_days")
    list_filter = ("supplier",)
    search_fields = ("supplier_part", "sku")

    def save_model(self, request, obj, form, change):
        try:
            saved = services.supplier_item_upsert(
                supplier=obj.supplier.code,
                supplier_part=obj.supplier_part,
                sku=obj.sku,
                pack_size=obj.pack_size,
                lead_time_days=obj.lead_time_days,
            )
        except DomainError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            return
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.supplier_item_delete(item_id=obj.pk)


class PurchaseOrderLineInline(ReadOnlyInline):
    model = PurchaseOrderLine
    extra = 0
    fields = (
        "line_no",
        "sku",
        "supplier_part",
        "qty",
        "unit_price",
        "ack_status",
        "qty_confirmed",
        "expected_date",
        "qty_shipped",
        "qty_received",
        "qty_invoiced",
    )


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(ReadOnlyAdmin):
    list_display = ("number", "supplier", "destination", "status", "created_at", "sent_at")
    list_filter = ("status", "supplier")
    search_fields = ("number",)
    inlines = [PurchaseOrderLineInline]
    actions = ["send_orders", "cancel_orders", "close_orders"]

    def has_change_permission(self, request, obj=None):
        return obj is None  # the list (and its actions) yes; editing an order no

    def _run(self, request, queryset, service, done: str):
        ok = 0
        for order in queryset:
            try:
                service(po_id=order.pk)
                ok += 1
            except DomainError as exc:
                self.message_user(request, f"{order.number}: {exc.message}", level=messages.ERROR)
        if ok:
            self.message_user(request, f"{ok} purchase order(s) {done}.", level=messages.SUCCESS)

    @admin.action(description="Send (X12 850)")
    def send_orders(self, request, queryset):
        self._run(request, queryset, services.purchase_order_send, "sent")

    @admin.action(description="Cancel")
    def cancel_orders(self, request, queryset):
        self._run(request, queryset, services.purchase_order_cancel, "cancelled")

    @admin.action(description="Close")
    def close_orders(self, request, queryset):
        self._run(request, queryset, services.purchase_order_close, "closed")


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "received_at", "supplier", "format", "source", "status", "size", "first_error")
    list_filter = ("status", "format", "source", "supplier")
    search_fields = ("sha256", "filename", "interchange_control")
    actions = ["reprocess"]
    exclude = ("body",)
    readonly_fields = (
        "status",
        "supplier",
        "format",
        "source",
        "content_type",
        "filename",
        "received_at",
        "processed_at",
        "attempts",
        "sha256",
        "size",
        "document_types",
        "interchange_sender",
        "interchange_control",
        "duplicate_of",
        "error_list",
        "profile_versions_applied",
        "summary",
        "raw_preview",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).defer("body").select_related("supplier")

    # Read-only, actions included: the change form renders as a view page (no inputs, no Save) because
    # ops could never save it; the changelist's actions need no change permission.

    @admin.display(description="first error")
    def first_error(self, obj: InboundMessage) -> str:
        return obj.errors[0]["message"][:120] if obj.errors else ""

    @admin.display(description="errors")
    def error_list(self, obj: InboundMessage):
        if not obj.errors:
            return "-"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li><code>{}</code> {} <small>{}</small>{}</li>",
                ((e["code"], e["message"], e.get("path") or "", _fix_link(obj, e)) for e in obj.errors),
            ),
        )

    @admin.display(description="profile versions")
    def profile_versions_applied(self, obj: InboundMessage) -> str:
        """The supplier profile versions the message was last processed under."""
        versions = obj.profile_versions or {}
        return ", ".join(f"{kind} v{number}" for kind, number in sorted(versions.items())) or "none (defaults)"

    @admin.display(description="raw message")
    def raw_preview(self, obj: InboundMessage):
        body = bytes(InboundMessage.objects.filter(pk=obj.pk).values_list("body", flat=True).get())
        text = body[:RAW_PREVIEW_BYTES].decode("utf-8", errors="backslashreplace")
        more = f"\n… {len(body) - RAW_PREVIEW_BYTES} more bytes" if len(body) > RAW_PREVIEW_BYTES else ""
        return format_html("<pre style='white-space: pre-wrap'>{}{}</pre>", text, more)

    @admin.action(description="Reprocess (after fixing the mapping or master data)")
    def reprocess(self, request, queryset):
        ids = list(queryset.filter(status=IN.QUARANTINED).values_list("pk", flat=True))
        counts = inbound.inbound_messages_reprocess(message_ids=ids)
        self.message_user(
            request,
            f"Reprocessed {len(ids)} quarantined message(s): {counts['APPLIED']} applied, "
            f"{counts['QUARANTINED']} still quarantined, {counts['DUPLICATE']} duplicate.",
            level=messages.SUCCESS if counts["QUARANTINED"] == 0 else messages.WARNING,
        )


def _fix_link(message: InboundMessage, problem: dict):
    """A link to the supplier profile field that would fix this reason (suppliers.profiles.fixes)."""
    fix = fix_for(problem, message.document_types) if message.supplier_id else None
    if fix is None:
        return ""
    return format_html(
        ' <a href="{}" data-testid="profile-fix">Fix in {}</a> <small>({})</small>',
        fix.admin_url(message.supplier_id),
        fix.label,
        fix.hint,
    )


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "supplier", "kind", "isa_control", "gs_control", "status", "purchase_order")
    list_filter = ("kind", "status", "supplier")
    exclude = ("body",)
    readonly_fields = ("text",)

    @admin.display(description="message")
    def text(self, obj: OutboundMessage):
        return format_html("<pre>{}</pre>", bytes(obj.body).decode("ascii", errors="replace"))

    # Read-only, actions included: the change form renders as a view page (no inputs, no Save) because
    # ops could never save it; the changelist's actions need no change permission.


class ShipNoticeLineInline(ReadOnlyInline):
    model = ShipNoticeLine
    extra = 0
    fields = ("line_no", "po_line", "sku", "qty", "qty_received", "pack")


@admin.register(ShipNotice)
class ShipNoticeAdmin(ReadOnlyAdmin):
    list_display = ("number", "supplier", "shipped_on", "expected_on", "carrier", "created_at")
    list_filter = ("supplier",)
    search_fields = ("number",)
    inlines = [ShipNoticeLineInline]


@admin.register(SupplierInvoice)
class SupplierInvoiceAdmin(ReadOnlyAdmin):
    list_display = ("number", "supplier", "purchase_order", "invoice_date", "total", "match_status")
    list_filter = ("match_status", "supplier")
    search_fields = ("number",)


@admin.register(PollAttempt)
class PollAttemptAdmin(ReadOnlyAdmin):
    list_display = ("id", "supplier", "channel", "status", "tries", "messages_stored", "finished_at", "error")
    list_filter = ("status", "channel", "supplier")


# Supplier profile versions (and, below them, bulk reprocess runs) have their admin beside their code.
from suppliers.profiles import admin as profiles_admin  # noqa: E402, F401
