"""Ops admin for stock. Master data saves through the services; stock tables are read-only here,
because every stock change must be a ledger row with its event (use the API or the services)."""

from django.contrib import admin

from inventory import services
from inventory.models import Balance, InboundSupply, Item, LedgerEntry, Location, Reservation
from scm.admin import ReadOnlyAdmin


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "unit", "pack_size", "active", "reorder_point", "safety_stock", "lead_time_days")
    list_filter = ("active", "unit")
    search_fields = ("sku", "name")

    def get_readonly_fields(self, request, obj=None):
        return ("sku",) if obj else ()

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in services.ITEM_FIELDS if name in form.cleaned_data}
        saved = services.item_upsert(sku=obj.sku, **fields)
        obj.pk = saved.pk

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "active", "allocation_rank")
    list_filter = ("kind", "active")
    search_fields = ("code", "name")

    def get_readonly_fields(self, request, obj=None):
        return ("code",) if obj else ()

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in services.LOCATION_FIELDS if name in form.cleaned_data}
        saved = services.location_upsert(code=obj.code, **fields)
        obj.pk = saved.pk

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    list_display = ("item", "location", "on_hand", "reserved", "available", "inbound", "updated_at")
    list_filter = ("location",)
    search_fields = ("item__sku", "item__name")
    list_select_related = ("item", "location")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "item",
        "location",
        "bucket",
        "quantity",
        "reason",
        "reference",
        "effective_at",
        "recorded_at",
    )
    list_filter = ("reason", "bucket", "location")
    search_fields = ("item__sku", "reference")
    list_select_related = ("item", "location")
    date_hierarchy = "effective_at"


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ("holder", "item", "location", "quantity", "reserved_total", "consumed_total", "released_total")
    search_fields = ("holder", "item__sku")
    list_filter = ("location",)
    list_select_related = ("item", "location")


@admin.register(InboundSupply)
class InboundSupplyAdmin(ReadOnlyAdmin):
    list_display = ("reference", "item", "location", "quantity", "expected_date", "source")
    search_fields = ("reference", "item__sku")
    list_filter = ("source", "location")
    list_select_related = ("item", "location")
