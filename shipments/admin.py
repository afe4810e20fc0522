"""Ops admin for shipments. Carriers save through the services; shipments, tracking updates and
planning attempts are read-only here (their changes must come with events): ops act on them
through the actions below, which call the services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from scm import outbound
from scm.admin import ReadOnlyAdmin, ReadOnlyInline
from scm.errors import DomainError
from shipments import services
from shipments.adapters.carrier_urls import tracking_url_template_check
from shipments.models import (
    Carrier,
    PlanningAttempt,
    Shipment,
    ShipmentDelay,
    ShipmentLine,
    ShipmentStatus,
    TrackingUpdate,
    UpdateOutcome,
)


class CarrierAdminForm(forms.ModelForm):
    """The carrier's URLs as form errors: the feed URL obeys the outbound policy (names resolved),
    the tracking page template is http(s) only (the service checks both again when saving)."""

    tracking_feed_url = forms.URLField(required=False, assume_scheme="https")

    class Meta:
        model = Carrier
        fields = ("code", *services.CARRIER_FIELDS)

    def clean_tracking_url_template(self):
        value = self.cleaned_data.get("tracking_url_template") or ""
        try:
            tracking_url_template_check(value)
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None
        return value

    def clean_tracking_feed_url(self):
        value = self.cleaned_data.get("tracking_feed_url") or ""
        if value:
            try:
                outbound.check_url(value, what="tracking_feed_url")
            except outbound.AddressRefused as exc:
                raise forms.ValidationError(exc.message) from None
        return value


@admin.register(Carrier)
class CarrierAdmin(admin.ModelAdmin):
    form = CarrierAdminForm
    list_display = ("code", "name", "is_default", "active", "service_levels", "tracking_feed_url", "feed_polled_at")
    list_filter = ("active", "is_default")
    search_fields = ("code", "name")
    readonly_fields = ("feed_cursor", "feed_polled_at", "feed_last_error")

    def get_readonly_fields(self, request, obj=None):
        return (("code",) if obj else ()) + self.readonly_fields

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in services.CARRIER_FIELDS if name in form.cleaned_data}
        try:
            saved = services.carrier_upsert(code=obj.code, **fields)
        except DomainError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            return
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        try:
            services.carrier_delete(code=obj.code)
        except DomainError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)


class ShipmentLineInline(ReadOnlyInline):
    model = ShipmentLine
    extra = 0
    fields = ("sku", "qty", "holder")


class ShipmentDelayInline(ReadOnlyInline):
    model = ShipmentDelay
    extra = 0
    fields = ("cause", "detail", "detected_at", "event_position")


class TrackingUpdateInline(ReadOnlyInline):
    model = TrackingUpdate
    extra = 0
    fields = ("received_at", "source", "status", "occurred_at", "note", "outcome", "outcome_detail")
    ordering = ("pk",)


@admin.register(Shipment)
class ShipmentAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "order_ref",
        "transfer_ref",
        "from_location",
        "carrier",
        "tracking_number",
        "status",
        "promised_date",
        "estimated_arrival",
        "last_update_at",
    )
    list_filter = ("status", "carrier")
    search_fields = ("order_ref", "transfer_ref", "tracking_number")
    inlines = (ShipmentLineInline, ShipmentDelayInline, TrackingUpdateInline)
    actions = ("depart_now", "cancel_planned")

    def has_change_permission(self, request, obj=None):
        # Needed to run actions; every field stays read-only.
        return request.user.has_perm("shipments.change_shipment")

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    @admin.action(description="Depart now (consumes the reservations)")
    def depart_now(self, request, queryset):
        self._each(request, queryset, lambda shipment: services.shipment_depart(shipment_id=shipment.pk))

    @admin.action(description="Cancel (planned shipments only; reservations stay with the order)")
    def cancel_planned(self, request, queryset):
        self._each(
            request,
            queryset.filter(status=ShipmentStatus.PLANNED),
            lambda shipment: services.shipment_cancel(shipment_id=shipment.pk, reason=f"cancelled by {request.user}"),
        )

    def _each(self, request, queryset, action) -> None:
        done = 0
        for shipment in queryset:
            try:
                action(shipment)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"shipment {shipment.pk}: {exc.message}", level=messages.ERROR)
        if done:
            self.message_user(request, f"{done} shipment(s) updated.", level=messages.SUCCESS)


@admin.register(TrackingUpdate)
class TrackingUpdateAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "received_at",
        "source",
        "carrier_code",
        "tracking_number",
        "status",
        "occurred_at",
        "outcome",
    )
    list_filter = ("outcome", "source", "status")
    search_fields = ("tracking_number", "carrier_code")
    actions = ("reprocess",)

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("shipments.change_trackingupdate")

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    @admin.action(description="Reprocess (pending or unknown tracking number)")
    def reprocess(self, request, queryset):
        applied = 0
        for update in queryset.filter(outcome__in=[UpdateOutcome.PENDING, UpdateOutcome.UNKNOWN_TRACKING]):
            try:
                result = services.tracking_update_process(update_id=update.pk)
            except DomainError as exc:
                self.message_user(request, f"update {update.pk}: {exc.message}", level=messages.ERROR)
                continue
            applied += result.outcome == UpdateOutcome.APPLIED
        self.message_user(request, f"{applied} update(s) applied.")


@admin.register(PlanningAttempt)
class PlanningAttemptAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "order_ref", "transfer_ref", "plan_key", "planner", "outcome", "error_code")
    list_filter = ("outcome", "planner")
    search_fields = ("order_ref", "transfer_ref", "plan_key")
