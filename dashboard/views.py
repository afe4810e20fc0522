"""The planner dashboard: thin views over `dashboard.selectors` (reads) and the domain services (writes).

Every page needs a planner or ops login; every button that changes something is a POST with a
CSRF token, runs one domain service, and is refused (403) to anyone but ops where the issue says
ops only. Domain errors from a service become a message on the page the user came from.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from dashboard import actions, selectors
from dashboard.access import dashboard_view, is_ops, may_read_raw_messages, ops_only
from dashboard.forms import (
    CancelOrderForm,
    ExceptionFilter,
    OrderFilter,
    PositionFilter,
    ReplenishmentFilter,
    ShipmentFilter,
    SkuFilter,
)
from dashboard.highlight import highlight_message
from inventory.exceptions import UnknownSku
from orders import selectors as order_selectors
from orders import services as order_services
from scm.bus.selectors import relay_overview
from scm.errors import DomainError
from scm.outbound.selectors import breakers_open
from shipments import selectors as shipment_selectors
from suppliers import inbound as supplier_inbound
from suppliers import selectors as supplier_selectors
from suppliers.profiles import selectors as profile_selectors


def _warn(request: HttpRequest, problems: list[str]) -> None:
    for problem in problems:
        messages.warning(request, problem)


def _actor(request: HttpRequest) -> str:
    return f"user:{request.user.get_username()}"


# --- Overview ---------------------------------------------------------------------------------


@require_GET
@dashboard_view
def overview(request: HttpRequest) -> HttpResponse:
    return render(
        request, "dashboard/overview.html", {"o": selectors.overview(), "relay": relay_overview(), "nav": "overview"}
    )


# --- Inventory --------------------------------------------------------------------------------


@require_GET
@dashboard_view
def positions(request: HttpRequest) -> HttpResponse:
    values, problems = PositionFilter(request.GET).values()
    location = values["location"] or ""
    if location and location not in selectors.location_codes():
        problems.append(f"Ignored location {location!r}: no such active location.")
        location = ""
    sort = values["sort"] or "sku"
    rows = selectors.positions(
        search=values["q"] or "", location=location, below_reorder=values["below"] == "1", sort=sort
    )
    listing = selectors.hydrate_positions(selectors.paginate(rows, values["page"]))
    _warn(request, problems + listing.problems)
    return render(
        request,
        "dashboard/positions.html",
        {
            "listing": listing,
            "filters": {"q": values["q"] or "", "location": location, "below": values["below"] or "", "sort": sort},
            "locations": selectors.location_codes(),
            "sorts": list(selectors.POSITION_SORTS),
            "nav": "inventory",
        },
    )


@require_GET
@dashboard_view
def sku_detail(request: HttpRequest, sku: str) -> HttpResponse:
    values, problems = SkuFilter(request.GET).values()
    location = values["location"] or None
    try:
        page = selectors.sku_page(sku=sku, location=location, as_of=values["as_of"])
    except UnknownSku:
        raise Http404(f"No SKU {sku!r}.") from None
    if location and page.location != location:
        problems.append(f"Ignored location {location!r}: SKU {sku} has no stock record there.")
    _warn(request, problems)
    return render(
        request,
        "dashboard/sku.html",
        {"p": page, "as_of": values["as_of"], "chart": {"points": page.history}, "nav": "inventory"},
    )


# --- Orders -----------------------------------------------------------------------------------


@require_GET
@dashboard_view
def order_list(request: HttpRequest) -> HttpResponse:
    values, problems = OrderFilter(request.GET).values()
    customer = values["customer"] or ""
    if customer and not selectors.customer_known(customer):
        problems.append(f"Ignored customer {customer!r}: no such customer.")
        customer = ""
    rows = selectors.order_list(status=values["status"] or "", customer=customer, late=values["late"] == "1")
    listing = selectors.paginate(rows, values["page"])
    _warn(request, problems + listing.problems)
    return render(
        request,
        "dashboard/orders.html",
        {
            "listing": listing,
            "filters": {"status": values["status"] or "", "customer": customer, "late": values["late"] or ""},
            "statuses": OrderFilter.base_fields["status"].choices,
            "nav": "orders",
        },
    )


@require_GET
@dashboard_view
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    page = selectors.order_page(order_id=order_id)
    if page is None:
        raise Http404(f"No order {order_id}.")
    return render(
        request,
        "dashboard/order.html",
        {"p": page, "o": page.order, "is_ops": is_ops(request.user), "cancel_form": CancelOrderForm(), "nav": "orders"},
    )


@require_POST
@ops_only
def order_cancel(request: HttpRequest, order_id: int) -> HttpResponse:
    form = CancelOrderForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not cancelled: " + " ".join(form.errors.get("reason", ["invalid request"])))
    else:
        try:
            order_services.order_cancel(order_id=order_id, reason=form.cleaned_data["reason"], actor=_actor(request))
        except DomainError as exc:
            messages.error(request, f"Not cancelled: {exc.message}")
        else:
            messages.success(request, f"Order {order_id} cancelled.")
    return redirect("dashboard:order", order_id=order_id)


@require_POST
@ops_only
def order_retry(request: HttpRequest, order_id: int) -> HttpResponse:
    try:
        order_services.order_retry(order_id=order_id, actor=_actor(request))
    except DomainError as exc:
        messages.error(request, f"Not retried: {exc.message}")
    else:
        messages.success(request, f"Order {order_id} retried: its workflow starts again.")
    return redirect("dashboard:order", order_id=order_id)


# --- Shipments --------------------------------------------------------------------------------


@require_GET
@dashboard_view
def shipment_list(request: HttpRequest) -> HttpResponse:
    values, problems = ShipmentFilter(request.GET).values()
    rows = shipment_selectors.late_shipments()
    if values["risk"]:
        rows = [row for row in rows if row.risk == values["risk"]]
    listing = selectors.paginate(rows, values["page"])
    _warn(request, problems + listing.problems)
    return render(
        request,
        "dashboard/shipments.html",
        {"listing": listing, "filters": {"risk": values["risk"] or ""}, "nav": "shipments"},
    )


@require_GET
@dashboard_view
def shipment_detail(request: HttpRequest, shipment_id: int) -> HttpResponse:
    try:
        shipment = shipment_selectors.shipment_get(shipment_id=shipment_id)
    except DomainError:
        raise Http404(f"No shipment {shipment_id}.") from None
    return render(
        request,
        "dashboard/shipment.html",
        {
            "s": shipment,
            "lines": list(shipment.lines.all()),
            "delays": list(shipment.delays.all()),
            "updates": list(shipment_selectors.tracking_updates(shipment_id=shipment_id)),
            "events": shipment_selectors.shipment_events(shipment_id=shipment_id),
            "order_id": selectors.order_id_of(shipment.order_ref),
            "nav": "shipments",
        },
    )


# --- Supplier exceptions (and orders waiting for configuration) -------------------------------

WAITING_ORDERS_SHOWN = 50


@require_GET
@dashboard_view
def supplier_exceptions(request: HttpRequest) -> HttpResponse:
    values, problems = ExceptionFilter(request.GET).values()
    listing = selectors.paginate(supplier_selectors.quarantined_messages(), values["page"])
    polls = list(supplier_selectors.poll_dead_letters(limit=50))
    _warn(request, problems + listing.problems)
    return render(
        request,
        "dashboard/exceptions.html",
        {
            "listing": listing,
            "polls": polls,
            "reasons": profile_selectors.quarantine_reasons(),
            "runs": list(profile_selectors.reprocess_runs(limit=10)),
            "waiting": list(order_selectors.waiting_workflows()[:WAITING_ORDERS_SHOWN]),
            "waiting_counts": order_selectors.waiting_counts(),
            "is_ops": is_ops(request.user),
            "nav": "exceptions",
        },
    )


@require_GET
@dashboard_view
def message_detail(request: HttpRequest, message_id: int) -> HttpResponse:
    message = supplier_selectors.inbound_messages().filter(pk=message_id).first()
    if message is None:
        raise Http404(f"No inbound message {message_id}.")
    raw = supplier_selectors.inbound_message_raw(message_id=message_id) if may_read_raw_messages(request.user) else None
    return render(
        request,
        "dashboard/message.html",
        {
            "m": message,
            "raw": highlight_message(raw[0], message.errors or []) if raw else None,
            "attempts": list(message.reprocess_attempts.select_related("run").order_by("id")),
            "is_ops": is_ops(request.user),
            "nav": "exceptions",
        },
    )


@require_POST
@ops_only
def message_reprocess(request: HttpRequest, message_id: int) -> HttpResponse:
    try:
        message = supplier_inbound.inbound_message_reprocess(message_id=message_id, actor=_actor(request))
    except DomainError as exc:
        messages.error(request, f"Not reprocessed: {exc.message}")
    else:
        level = messages.success if message.status != "QUARANTINED" else messages.warning
        level(request, f"Message {message_id} reprocessed: now {message.status}.")
    return redirect("dashboard:message", message_id=message_id)


# --- Replenishment ----------------------------------------------------------------------------


@require_GET
@dashboard_view
def replenishment(request: HttpRequest) -> HttpResponse:
    values, problems = ReplenishmentFilter(request.GET).values()
    location = values["location"] or ""
    if location and location not in selectors.location_codes():
        problems.append(f"Ignored location {location!r}: no such active location.")
        location = ""
    _warn(request, problems)
    return render(
        request,
        "dashboard/replenishment.html",
        {
            "suggestions": selectors.replenishment(location=location),
            "location": location,
            "locations": selectors.location_codes(),
            "nav": "replenishment",
        },
    )


@require_POST
@dashboard_view
def replenishment_draft(request: HttpRequest) -> HttpResponse:
    """Draft purchase orders for the ticked suggestions, one per supplier and destination."""
    back = reverse("dashboard:replenishment")
    picked, problems = selectors.parse_picked_rows(request.POST)
    for problem in problems:
        messages.error(request, problem)
    if not picked:
        messages.warning(request, "Tick at least one suggestion to draft a purchase order.")
        return redirect(back)
    try:
        drafts = actions.draft_purchase_orders(picked)
    except DomainError as exc:
        messages.error(request, f"No purchase order drafted: {exc.message}")
        return redirect(back)
    for draft in drafts:
        messages.success(request, f"Drafted purchase order {draft.number} for {draft.supplier.code}.")
    return redirect(back)


# --- Webhooks ---------------------------------------------------------------------------------


@require_GET
@dashboard_view
def dead_webhooks(request: HttpRequest) -> HttpResponse:
    values, problems = ExceptionFilter(request.GET).values()
    listing = selectors.paginate(selectors.dead_webhook_deliveries(), values["page"])
    _warn(request, problems + listing.problems)
    breakers = breakers_open()  # every partner's, not only webhooks': ops look for open circuits here
    return render(request, "dashboard/webhooks.html", {"listing": listing, "breakers": breakers, "nav": "webhooks"})
