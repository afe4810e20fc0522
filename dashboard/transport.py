"""Dashboard pages for purchase orders and partner transport (thin views over partners.selectors;
the one button, "Resend", calls partners.services.outbox_entry_resend and is for ops only)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from dashboard import selectors
from dashboard.access import dashboard_view, is_ops, ops_only
from dashboard.forms import ExceptionFilter
from partners import selectors as transport
from partners import services as outbox
from scm.errors import DomainError


@require_GET
@dashboard_view
def purchase_order_list(request: HttpRequest) -> HttpResponse:
    values, problems = ExceptionFilter(request.GET).values()
    listing = selectors.paginate(transport.purchase_orders_recent(), values["page"])
    for problem in problems + listing.problems:
        messages.warning(request, problem)
    return render(request, "dashboard/purchase_orders.html", {"listing": listing, "nav": "purchase_orders"})


@require_GET
@dashboard_view
def purchase_order_detail(request: HttpRequest, number: str) -> HttpResponse:
    found = transport.purchase_order_transport(number=number)
    if found is None:
        raise Http404(f"No purchase order {number}.")
    return render(
        request,
        "dashboard/purchase_order.html",
        {"po": found, "is_ops": is_ops(request.user), "nav": "purchase_orders"},
    )


@require_GET
@dashboard_view
def transport_dead_letters(request: HttpRequest) -> HttpResponse:
    values, problems = ExceptionFilter(request.GET).values()
    listing = selectors.paginate(transport.outbox_dead_letters(), values["page"])
    for problem in problems + listing.problems:
        messages.warning(request, problem)
    return render(
        request, "dashboard/transport.html", {"listing": listing, "is_ops": is_ops(request.user), "nav": "transport"}
    )


@require_POST
@ops_only
def outbox_resend(request: HttpRequest, entry_id: int) -> HttpResponse:
    try:
        entry = outbox.outbox_entry_resend(entry_id=entry_id, actor=f"user:{request.user.get_username()}")
    except DomainError as exc:
        messages.error(request, f"Not resent: {exc.message}")
        return redirect("dashboard:transport")
    messages.success(
        request, f"{entry.kind} for {entry.purchase_order or entry.connection.supplier.code} queued again."
    )
    if entry.purchase_order:
        return redirect("dashboard:purchase_order", number=entry.purchase_order)
    return redirect("dashboard:transport")
