"""Ops admin for orders: read everything, change state only through the services.

Orders, lines, allocations and workflows are read-only here (the FSM status too): an order moves
only by a transition that appends its event. The two things ops do — cancel an order, retry a
failed one — are admin actions that call `orders.services` with the ops user as the actor.
Customers are master data and save through `customer_upsert`.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from orders import selectors, services
from orders.models import Allocation, Customer, FulfillmentWorkflow, OrderLine, OrderShipment, SalesOrder
from scm import roles
from scm.admin import MasterDataAdmin, ReadOnlyAdmin, ReadOnlyInline
from scm.errors import DomainError


@admin.register(Customer)
class CustomerAdmin(MasterDataAdmin):
    list_display = ("code", "name", "active")
    list_filter = ("active",)
    search_fields = ("code", "name")

    upsert_fields = ("name", "active")

    def upsert(self, key, **fields):
        return services.customer_upsert(code=key, **fields)

    def has_delete_permission(self, request, obj=None):
        return False


class LineInline(ReadOnlyInline):
    model = OrderLine
    fields = ("line_no", "sku", "ordered", "reserved", "shipped", "delivered", "cancelled", "backordered")
    readonly_fields = fields


class ShipmentInline(ReadOnlyInline):
    model = OrderShipment
    fields = ("shipment_id", "from_location", "status", "departed", "delivered", "lines")
    readonly_fields = fields


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 60}))


@admin.register(SalesOrder)
class SalesOrderAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "external_id",
        "customer",
        "status",
        "priority",
        "requested_date",
        "created_at",
        "workflow_step",
        "workflow_attempts",
    )
    list_filter = ("status", "priority", "workflow__step", "created_at")
    search_fields = ("external_id", "customer__code", "customer__name", "lines__sku", "=id")
    list_select_related = ("customer", "workflow")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    inlines = (LineInline, ShipmentInline)
    readonly_fields = (
        "customer",
        "external_id",
        "status",
        "status_reason",
        "priority",
        "requested_date",
        "ship_to",
        "idempotency_key",
        "created_at",
        "updated_at",
        "workflow_state",
        "timeline",
    )
    fields = readonly_fields
    actions = ("cancel_orders", "retry_failed_orders")

    def get_search_results(self, request, queryset, search_term):
        found, duplicates = super().get_search_results(request, queryset, search_term)
        return found.distinct(), False

    def has_ops_permission(self, request) -> bool:
        return roles.has_role(request.user, roles.OPS)

    @admin.display(description="workflow step", ordering="workflow__step")
    def workflow_step(self, order):
        workflow = getattr(order, "workflow", None)
        if workflow is None:
            return "-"
        if workflow.waiting_for:
            return f"{workflow.get_step_display()}: waiting ({workflow.waiting_for})"
        return workflow.get_step_display()

    @admin.display(description="attempts")
    def workflow_attempts(self, order):
        workflow = getattr(order, "workflow", None)
        return workflow.attempts if workflow else "-"

    @admin.display(description="fulfillment workflow")
    def workflow_state(self, order):
        workflow = FulfillmentWorkflow.objects.filter(order=order).first()
        if workflow is None:
            return "-"
        return format_html(
            "{}{} · attempt {} · generation {} · next attempt {} · last error: {}",
            workflow.get_step_display(),
            f" · waiting for configuration: {workflow.waiting_for} (since {workflow.waiting_since})"
            if workflow.waiting_for
            else "",
            workflow.attempts,
            workflow.generation,
            workflow.next_attempt_at or "-",
            workflow.last_error or "none",
        )

    @admin.display(description="event timeline (who, what, when, why)")
    def timeline(self, order):
        history = selectors.order_history(order_id=order.pk)
        if not history:
            return "-"
        return format_html(
            "<ol>{}</ol>",
            format_html_join(
                "",
                "<li><b>{}</b> — {}<br><small>{} · by {} · #{}</small></li>",
                ((e["what"], e["why"] or "", e["when"], e["who"], e["position"]) for e in history),
            ),
        )

    @admin.action(description="Cancel the selected orders (releases their reservations)", permissions=["ops"])
    def cancel_orders(self, request, queryset):
        form = CancelForm(request.POST if "reason" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request,
                "admin/orders/cancel_orders.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Cancel orders",
                    "orders": list(queryset.select_related("customer")),
                    "form": form,
                    "opts": self.model._meta,
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        self._each(
            request,
            queryset,
            "cancelled",
            lambda order: services.order_cancel(
                order_id=order.pk, reason=form.cleaned_data["reason"], actor=f"user:{request.user.get_username()}"
            ),
        )
        return None

    @admin.action(description="Retry the selected failed orders", permissions=["ops"])
    def retry_failed_orders(self, request, queryset):
        self._each(
            request,
            queryset,
            "retried",
            lambda order: services.order_retry(order_id=order.pk, actor=f"user:{request.user.get_username()}"),
        )

    def _each(self, request, queryset, done: str, call) -> None:
        succeeded = 0
        for order in queryset.order_by("pk"):
            try:
                call(order)
            except DomainError as exc:
                self.message_user(request, f"Order {order.pk}: {exc.message}", messages.ERROR)
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, f"{succeeded} order(s) {done}.", messages.SUCCESS)


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyAdmin):
    list_display = (
        "order",
        "line_no",
        "sku",
        "ordered",
        "reserved",
        "shipped",
        "delivered",
        "cancelled",
        "backordered",
    )
    search_fields = ("sku", "order__external_id", "=order__id")
    list_select_related = ("order",)


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    list_display = ("line", "location", "reserved", "planned", "shipped")
    list_filter = ("location",)
    search_fields = ("line__sku", "=line__order__id")
    list_select_related = ("line",)


@admin.register(FulfillmentWorkflow)
class FulfillmentWorkflowAdmin(ReadOnlyAdmin):
    list_display = (
        "order",
        "step",
        "waiting_for",
        "attempts",
        "generation",
        "next_attempt_at",
        "lease_until",
        "short_error",
    )
    list_filter = ("step", "waiting_for")
    search_fields = ("=order__id", "order__external_id", "last_error")
    list_select_related = ("order",)

    @admin.display(description="last error")
    def short_error(self, workflow):
        return (workflow.last_error[:120] + "…") if len(workflow.last_error) > 120 else workflow.last_error


@admin.register(OrderShipment)
class OrderShipmentAdmin(ReadOnlyAdmin):
    """Shipments as the orders app knows them (fed by shipment events); the shipments app owns the rest."""

    list_display = ("order", "shipment_id", "from_location", "status", "departed", "delivered")
    list_filter = ("status", "departed", "delivered")
    search_fields = ("=order__id", "=shipment_id", "from_location")
    list_select_related = ("order",)
