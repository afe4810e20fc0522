"""The planner dashboard: who may see and press what, what each page shows, and bad input.

Data is made through the domain services (as in production) with unique codes; pages are read
through Django's test client with a real session login.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from dashboard import selectors
from inventory import selectors as stock_selectors
from inventory import services as inventory
from orders import services as orders
from orders.models import OrderStatus, SalesOrder
from scm.events.store import read_stream
from scm.roles import INTEGRATION, OPS, PLANNER
from tests.factories import CustomerFactory, ItemFactory, LocationFactory

pytestmark = pytest.mark.django_db

PAGES = (
    "/",
    "/inventory/",
    "/orders/",
    "/shipments/",
    "/supplier-exceptions/",
    "/replenishment/",
    "/webhooks/dead/",
)


def login(role: str | None, unique: str) -> Client:
    user = User.objects.create_user(f"{role or 'nobody'}-{unique}", password="pw")
    if role:
        user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def planner(unique):
    return login(PLANNER, unique)


@pytest.fixture
def ops(unique):
    return login(OPS, unique)


@pytest.fixture
def net(unique):
    """A customer, two SKUs and two warehouses; SKU A has 5 on hand at W1 only."""
    CustomerFactory(code=f"C-{unique}")
    a = ItemFactory(sku=f"A-{unique}", lead_time_days=7).sku
    b = ItemFactory(sku=f"B-{unique}").sku
    w1 = LocationFactory(code=f"W1-{unique}", allocation_rank=1).code
    w2 = LocationFactory(code=f"W2-{unique}", allocation_rank=2).code
    inventory.stock_receive(sku=a, location=w1, qty=5, reference="opening")
    return {"customer": f"C-{unique}", "A": a, "B": b, "W1": w1, "W2": w2, "unique": unique}


def order_for(net, external_id: str, lines: list[tuple[str, int]], **kwargs) -> SalesOrder:
    order, _ = orders.order_create(
        customer=net["customer"],
        external_id=external_id,
        lines=[{"sku": net[sku], "qty": qty} for sku, qty in lines],
        start_workflow=False,
        **kwargs,
    )
    orders.order_allocate(order_id=order.pk)
    order.refresh_from_db()
    return order


# --- Access -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_users_are_sent_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


@pytest.mark.parametrize("role", [None, INTEGRATION])
def test_users_without_a_dashboard_role_get_the_403_page(unique, role):
    response = login(role, unique).get("/orders/")
    assert response.status_code == 403
    assert b"This page is for planner or ops users." in response.content
    assert b"Not allowed" in response.content


@pytest.mark.parametrize("path", PAGES)
def test_planners_see_every_page(planner, path):
    assert planner.get(path).status_code == 200


def test_login_with_the_form_then_logout(unique):
    user = User.objects.create_user(f"p-{unique}", password="secret-pw")
    user.groups.add(Group.objects.get(name=PLANNER))
    client = Client()
    assert client.get("/accounts/login/").status_code == 200
    wrong = client.post("/accounts/login/", {"username": user.username, "password": "nope"})
    assert wrong.status_code == 200 and b"Wrong username or password." in wrong.content
    ok = client.post("/accounts/login/", {"username": user.username, "password": "secret-pw", "next": "/orders/"})
    assert ok.status_code == 302 and ok["Location"] == "/orders/"
    assert client.get("/orders/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/orders/").status_code == 302


# --- Ops-only buttons -------------------------------------------------------------------------


def test_a_planner_cannot_cancel_or_retry_and_sees_no_buttons(planner, net):
    order = order_for(net, "X1", [("A", 2)])
    page = planner.get(f"/orders/{order.pk}/")
    assert b'data-testid="cancel-button"' not in page.content
    response = planner.post(f"/orders/{order.pk}/cancel/", {"reason": "try"})
    assert response.status_code == 403
    assert planner.post(f"/orders/{order.pk}/retry/").status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.RESERVED
    assert [e.type for e in read_stream(order.stream)] == ["OrderCreated", "OrderReserved"]


def test_ops_cancel_an_order_through_the_service_with_their_name_on_the_event(ops, net):
    order = order_for(net, "X2", [("A", 2)])
    page = ops.get(f"/orders/{order.pk}/")
    assert b'data-testid="cancel-button"' in page.content
    response = ops.post(f"/orders/{order.pk}/cancel/", {"reason": "customer called"}, follow=True)
    assert messages_of(response) == [f"Order {order.pk} cancelled."]
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED and order.status_reason == "customer called"
    cancelled = read_stream(order.stream)[-1]
    assert cancelled.type == "OrderCancelled"
    assert cancelled.payload["actor"] == f"user:ops-{net['unique']}"
    assert cancelled.metadata["actor"] == f"user:ops-{net['unique']}"
    assert stock_selectors.balance_for(sku=net["A"], location=net["W1"]).reserved == 0


def test_cancel_without_a_reason_changes_nothing_and_says_why(ops, net):
    order = order_for(net, "X3", [("A", 2)])
    response = ops.post(f"/orders/{order.pk}/cancel/", {"reason": "  "}, follow=True)
    assert messages_of(response) == ["Not cancelled: Say why the order is cancelled."]
    order.refresh_from_db()
    assert order.status == OrderStatus.RESERVED


def test_cancelling_a_cancelled_order_shows_the_domain_error(ops, net):
    order = order_for(net, "X4", [("A", 1)])
    orders.order_cancel(order_id=order.pk, reason="first", actor="test")
    response = ops.post(f"/orders/{order.pk}/cancel/", {"reason": "again"}, follow=True)
    assert messages_of(response) == [f"Not cancelled: Order {order.pk} is CANCELLED; cannot cancel."]


def test_ops_retry_a_failed_order(ops, net):
    order = order_for(net, "X5", [("B", 3)])
    orders.order_fail(order_id=order.pk, reason="TMS down", step="plan_shipment", attempts=6)
    page = ops.get(f"/orders/{order.pk}/")
    assert b'data-testid="retry-button"' in page.content
    assert b"TMS down" in page.content
    response = ops.post(f"/orders/{order.pk}/retry/", follow=True)
    assert messages_of(response) == [f"Order {order.pk} retried: its workflow starts again."]
    order.refresh_from_db()
    assert order.status == OrderStatus.CREATED
    assert read_stream(order.stream)[-1].type == "OrderRetried"


def test_posts_without_a_csrf_token_are_refused(unique, net):
    user = User.objects.create_user(f"csrf-{unique}", password="pw")
    user.groups.add(Group.objects.get(name=OPS))
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    order = order_for(net, "X6", [("A", 1)])
    assert client.post(f"/orders/{order.pk}/cancel/", {"reason": "no token"}).status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.RESERVED


def test_get_on_an_action_is_not_allowed(ops, net):
    order = order_for(net, "X7", [("A", 1)])
    assert ops.get(f"/orders/{order.pk}/cancel/").status_code == 405


# --- Pages ------------------------------------------------------------------------------------


def test_order_page_shows_lines_allocations_workflow_and_the_timeline(planner, net):
    order = order_for(net, "T1", [("A", 8)], requested_date=date(2020, 1, 2))
    response = planner.get(f"/orders/{order.pk}/")
    page = response.context["p"]
    assert [(li.sku, li.ordered, li.reserved, li.backordered) for li in page.lines] == [(net["A"], 8, 5, 3)]
    assert [(a.location, a.reserved) for a in page.lines[0].allocations.all()] == [(net["W1"], 5)]
    assert [e["type"] for e in page.history] == ["OrderCreated", "OrderBackordered"]
    assert page.history[1]["what"] == "Backordered 3 unit(s); reserved 5"
    assert page.is_late is True
    assert page.workflow.step == "await_stock"
    html = response.content.decode()
    assert html.count('data-testid="timeline-entry"') == 2
    assert "Backordered 3 unit(s); reserved 5" in html
    assert "Waiting for stock" in html


def test_unknown_order_and_sku_are_404(planner):
    assert planner.get("/orders/999999999/").status_code == 404
    assert planner.get("/inventory/NO-SUCH-SKU/").status_code == 404


def test_orders_list_filters_by_status_customer_and_late(planner, net):
    late = order_for(net, "L1", [("A", 2)], requested_date=timezone.localdate() - timedelta(days=1))
    short = order_for(net, "L2", [("A", 9)], requested_date=timezone.localdate() + timedelta(days=5))
    rows = planner.get(f"/orders/?customer={net['customer']}").context["listing"].rows
    assert [(o.pk, o.units, o.short_units, o.is_late) for o in rows] == [
        (short.pk, 9, 6, False),
        (late.pk, 2, 0, True),
    ]
    only_late = planner.get(f"/orders/?customer={net['customer']}&late=1").context["listing"].rows
    assert [o.pk for o in only_late] == [late.pk]
    backordered = planner.get(f"/orders/?customer={net['customer']}&status=BACKORDERED").context["listing"].rows
    assert [o.pk for o in backordered] == [short.pk]


def test_nonsense_filters_show_messages_not_errors(planner, net):
    response = planner.get("/orders/?status=SHIPPED&page=abc&late=maybe&customer=NOBODY-" + net["unique"])
    assert response.status_code == 200
    assert messages_of(response) == [
        "Ignored status 'SHIPPED': Select a valid choice. SHIPPED is not one of the available choices.",
        "Ignored late 'maybe': Select a valid choice. maybe is not one of the available choices.",
        "Ignored page 'abc': not a page number",
        f"Ignored customer 'NOBODY-{net['unique']}': no such customer.",
    ]
    response = planner.get("/inventory/?sort=price&location=NOWHERE&below=2&page=-1")
    assert response.status_code == 200
    assert messages_of(response) == [
        "Ignored below reorder point '2': Select a valid choice. 2 is not one of the available choices.",
        "Ignored sort 'price': Select a valid choice. price is not one of the available choices.",
        "Ignored page '-1': Ensure this value is greater than or equal to 1.",
        "Ignored location 'NOWHERE': no such active location.",
    ]
    response = planner.get(f"/inventory/{net['A']}/?as_of=31/12/2025&location=ELSEWHERE")
    assert response.status_code == 200
    assert messages_of(response) == [
        "Ignored as of '31/12/2025': use a date like 2026-01-31",
        f"Ignored location 'ELSEWHERE': SKU {net['A']} has no stock record there.",
    ]
    assert planner.get("/shipments/?risk=lots&page=0").status_code == 200
    assert planner.get("/replenishment/?location=%00%ff").status_code == 200


def test_a_page_past_the_end_shows_the_last_page_and_says_so(planner, net, settings):
    settings.DASHBOARD_PAGE_SIZE = 1
    order_for(net, "P1", [("A", 1)])
    order_for(net, "P2", [("A", 1)])
    response = planner.get(f"/orders/?customer={net['customer']}&page=7")
    assert messages_of(response) == ["There is no page 7; showing page 2, the last one."]
    assert response.context["listing"].page.number == 2


def test_positions_show_available_inbound_next_date_cover_and_the_reorder_flag(planner, net):
    a, b, w1, w2 = net["A"], net["B"], net["W1"], net["W2"]
    inventory.item_upsert(sku=b, reorder_point=10)
    inventory.stock_receive(sku=b, location=w2, qty=4, reference="r")
    inventory.inbound_add(sku=b, location=w2, qty=3, reference=f"PO-{b}/1", expected_date=date(2031, 5, 2))
    inventory.inbound_add(sku=b, location=w2, qty=2, reference=f"PO-{b}/2", expected_date=date(2031, 4, 1))
    inventory.stock_reserve(sku=a, location=w1, qty=2, holder="h-1")
    inventory.reservation_consume(sku=a, location=w1, holder="h-1", qty=2, reference="shipped")
    response = planner.get(f"/inventory/?q={net['unique']}&sort=sku")
    rows = [
        (p.sku, p.location, p.on_hand, p.reserved, p.available, p.inbound, p.next_expected, p.below_reorder)
        for p in (r.position for r in response.context["listing"].rows)
    ]
    assert rows == [
        (a, w1, 3, 0, 3, 0, None, False),
        (b, w2, 4, 0, 4, 5, date(2031, 4, 1), True),
    ]
    cover = {r.item.sku: r.position.days_of_cover for r in response.context["listing"].rows}
    assert cover[a] == pytest.approx(3 / (2 / 28))
    assert cover[b] is None
    html = response.content.decode()
    assert html.count('data-testid="below-reorder"') == 1 and ">42.0</td>" in html
    flagged = planner.get(f"/inventory/?q={net['unique']}&below=1").context["listing"].rows
    suggested = {(s.sku, s.location) for s in stock_selectors.replenishment_suggestions() if net["unique"] in s.sku}
    assert {(r.item.sku, r.location.code) for r in flagged} == suggested == {(b, w2)}
    by_available = planner.get(f"/inventory/?q={net['unique']}&sort=-available").context["listing"].rows
    assert [r.item.sku for r in by_available] == [b, a]
    by_cover = planner.get(f"/inventory/?q={net['unique']}&sort=-days_of_cover").context["listing"].rows
    assert [r.item.sku for r in by_cover] == [a, b]  # no cover figure sorts last either way
    by_date = planner.get(f"/inventory/?q={net['unique']}&sort=next_expected").context["listing"].rows
    assert [r.item.sku for r in by_date] == [b, a]


def test_sku_page_as_of_a_past_day_shows_that_days_balance_and_ledger(planner, net):
    a, w1 = net["A"], net["W1"]
    then = timezone.now() - timedelta(days=3)
    inventory.stock_receive(sku=a, location=w1, qty=7, reference="backdated", effective_at=then)
    now_page = planner.get(f"/inventory/{a}/").context["p"]
    assert now_page.balances == [{"location": w1, "on_hand": 12, "reserved": 0, "available": 12, "inbound": 0}]
    day = (then + timedelta(hours=1)).date() if then.hour < 23 else then.date()
    past = planner.get(f"/inventory/{a}/?as_of={day.isoformat()}&location={w1}").context["p"]
    assert past.balances == [{"location": w1, "on_hand": 7, "reserved": 0, "available": 7, "inbound": 0}]
    assert [(e.quantity, e.reference) for e in past.ledger] == [(7, "backdated")]
    assert past.history[-1][1] == 7


def test_overview_counts_move_with_the_orders(planner, net):
    before = selectors.overview()
    order_for(net, "O1", [("A", 8)])
    orders.order_create(
        customer=net["customer"], external_id="O2", lines=[{"sku": net["A"], "qty": 1}], start_workflow=False
    )
    after = planner.get("/").context["o"]
    by_status_before = {row["status"]: row["count"] for row in before.orders_by_status}
    by_status_after = {row["status"]: row["count"] for row in after.orders_by_status}
    assert by_status_after[OrderStatus.BACKORDERED] == by_status_before[OrderStatus.BACKORDERED] + 1
    assert by_status_after[OrderStatus.CREATED] == by_status_before[OrderStatus.CREATED] + 1
    assert after.backorder_units == before.backorder_units + 3
    assert after.fill_demand == before.fill_demand + 9
    assert after.fill_served == before.fill_served + 5
    assert after.chart["series"]["orders"][-1] == before.chart["series"]["orders"][-1] + 2
    assert len(after.chart["days"]) == 30 and after.chart["days"][-1] == timezone.localdate().isoformat()


def test_order_links_from_the_overview_lead_to_their_lists(planner):
    html = planner.get("/").content.decode()
    assert 'href="/orders/?status=BACKORDERED"' in html
    assert 'href="/orders/?late=1"' in html


def test_draft_purchase_orders_from_ticked_suggestions_one_per_supplier_and_destination(planner, net):
    from suppliers import selectors as supplier_selectors
    from suppliers import services as suppliers

    u = net["unique"]
    suppliers.supplier_upsert(code=f"SA-{u}", name="Supplier A")
    suppliers.supplier_upsert(code=f"SB-{u}", name="Supplier B")
    suppliers.supplier_item_upsert(supplier=f"SA-{u}", supplier_part=f"PA-{u}", sku=net["A"])
    suppliers.supplier_item_upsert(supplier=f"SB-{u}", supplier_part=f"PB-{u}", sku=net["B"])
    a_key, b_key = f"{net['A']}@{net['W1']}", f"{net['B']}@{net['W1']}"
    response = planner.post(
        "/replenishment/draft/",
        {"pick": [a_key, b_key], f"qty-{a_key}": "12", f"qty-{b_key}": "7"},
        follow=True,
    )
    drafts = list(supplier_selectors.purchase_orders().filter(supplier__code__in=[f"SA-{u}", f"SB-{u}"]))
    assert sorted((po.supplier.code, po.destination, po.status, po.source) for po in drafts) == [
        (f"SA-{u}", net["W1"], "DRAFT", "replenishment"),
        (f"SB-{u}", net["W1"], "DRAFT", "replenishment"),
    ]
    lines = sorted((line.sku, line.qty, line.supplier_part) for po in drafts for line in po.lines.all())
    assert lines == [(net["A"], 12, f"PA-{u}"), (net["B"], 7, f"PB-{u}")]
    assert sorted(messages_of(response)) == sorted(
        f"Drafted purchase order {po.number} for {po.supplier.code}." for po in drafts
    )


def test_draft_refuses_a_sku_no_supplier_lists_and_skips_bad_quantities(planner, net):
    from suppliers import selectors as supplier_selectors

    key, bad = f"{net['A']}@{net['W1']}", f"{net['B']}@{net['W1']}"
    response = planner.post(
        "/replenishment/draft/", {"pick": [key, bad], f"qty-{key}": "5", f"qty-{bad}": "lots"}, follow=True
    )
    assert messages_of(response) == [
        f"Skipped {net['B']} at {net['W1']}: quantity 'lots' is not a whole number.",
        f"No purchase order drafted: No supplier lists {net['A']}; add a supplier part number first.",
    ]
    assert not supplier_selectors.purchase_orders().filter(lines__sku__in=[net["A"], net["B"]]).exists()
    nothing = planner.post("/replenishment/draft/", {}, follow=True)
    assert messages_of(nothing) == ["Tick at least one suggestion to draft a purchase order."]


@pytest.mark.parametrize(
    "path",
    [
        "/static/dashboard/dashboard.css",
        "/static/dashboard/charts.js",
        "/static/vendor/htmx/htmx.min.js",
        "/static/vendor/uplot/uPlot.iife.min.js",
    ],
)
def test_static_files_are_served_by_the_app_itself_with_debug_off(client, path, settings):
    assert settings.DEBUG is False
    response = client.get(path)
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert len(body) > 1000
