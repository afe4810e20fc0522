"""The simulated month: the network is built, then each day is played at its own simulated time."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

import time_machine
from celery.exceptions import Retry
from django.conf import settings
from django.utils import timezone

from dashboard.demo.catalogue import (
    CANCEL_REASONS,
    CARRIERS,
    CUSTOMER_NAMES,
    DEFECTS,
    FAMILIES,
    SUPPLIER_NAMES,
    WAREHOUSES,
    DemoConfig,
    DemoReport,
    marker_stream,
    x12_856,
)
from inventory import selectors as stock_selectors
from inventory import services as inventory
from orders import selectors as order_selectors
from orders import services as orders
from orders import workflow
from orders.models import OrderStatus
from orders.tasks import run_fulfillment_step
from scm.errors import DomainError
from scm.events import subscriptions
from scm.events.context import event_context
from scm.events.store import NewEvent, append
from scm.webhooks import services as webhook_services
from shipments import selectors as shipment_selectors
from shipments import services as shipment_services
from suppliers import inbound as supplier_inbound
from suppliers import services as supplier_services
from suppliers.tasks import poll_supplier_feed


class Simulation:
    """Builds the network, then plays `days` days, each at its own simulated time."""

    def __init__(self, config: DemoConfig, *, say: Callable[[str], None] = print) -> None:
        self.c = config
        self.say = say
        self.rng = random.Random(config.seed)
        self.report = DemoReport()
        p = config.prefix
        self.warehouses = [f"{p}{code}" for code, _, _ in WAREHOUSES]
        self.skus: list[str] = []
        self.weights: list[float] = []
        self.customers: list[str] = []
        self.suppliers: list[str] = []
        self.source_of: dict[str, tuple[str, str]] = {}
        self.inbound: list[dict] = []
        self.po_counter = 0
        self.asn_counter = 0
        self.delayed: set[int] = set()
        self.transit_days: dict[str, int] = {}
        self.first_day = timezone.localdate() - timedelta(days=config.days)

    # --- helpers ---------------------------------------------------------------------------

    def at(self, day: date, hour: float):
        moment = timezone.make_aware(datetime.combine(day, time(0))) + timedelta(hours=hour)
        return time_machine.travel(moment, tick=True)

    def drain(self) -> None:
        """Let every event subscriber catch up (backorders filled, orders told about shipments)."""
        for _ in range(200):
            results = subscriptions.process_all()
            if not any(r.handled for r in results) or all(r.error or r.skipped or not r.handled for r in results):
                return

    def pick_sku(self) -> str:
        return self.rng.choices(self.skus, weights=self.weights, k=1)[0]

    # --- the story -------------------------------------------------------------------------

    def run(self) -> DemoReport:
        with event_context(actor="seed_demo"):
            with self.at(self.first_day - timedelta(days=1), 7):
                self.master_data()
                self.opening_stock()
                self.webhook_partner()
            for offset in range(self.c.days):
                day = self.first_day + timedelta(days=offset)
                self.play_day(day, offset)
                if offset % 5 == 4 or offset == self.c.days - 1:
                    self.say(f"  day {offset + 1}/{self.c.days} ({day}): {self.summary()}")
            self.finish()
            append(
                marker_stream(self.c.prefix),
                [
                    NewEvent(
                        type="DemoNetworkSeeded", payload={"counts": self.report.counts, "notes": self.report.notes}
                    )
                ],
            )
        return self.report

    def summary(self) -> str:
        keys = ("orders", "shipments_departed", "deliveries", "purchase_orders", "receipts", "quarantined")
        return ", ".join(f"{k.replace('_', ' ')} {self.report.counts.get(k, 0)}" for k in keys)

    def master_data(self) -> None:
        p, rng = self.c.prefix, self.rng
        self.say("master data: warehouses, items, customers")
        for (_code, name, rank), full in zip(WAREHOUSES, self.warehouses, strict=True):
            inventory.location_upsert(code=full, name=name, kind="warehouse", allocation_rank=rank)
        variants = [(fam, label, v) for fam, label, sizes in FAMILIES for v in sizes]
        for n in range(self.c.skus):
            fam, label, variant = variants[n % len(variants)]
            grade = n // len(variants)
            sku = f"{p}{fam}-{variant}" + (f"-{grade:02d}" if grade else "")
            pack = rng.choice((1, 1, 1, 5, 10, 12, 25))
            fields = {
                "name": f"{label} {variant}" + (f" (range {grade})" if grade else ""),
                "pack_size": pack,
                "lead_time_days": rng.randint(3, 12),
                "safety_stock": rng.choice((0, 5, 10, 20)),
                "min_qty": pack * rng.choice((1, 2, 4)),
            }
            if rng.random() < 0.15:
                fields["reorder_point"] = rng.randint(10, 60)
                fields["max_qty"] = fields["reorder_point"] * 3
            inventory.item_upsert(sku=sku, **fields)
            self.skus.append(sku)
            self.weights.append(1 / (1 + (n % 60)) ** 0.8)
        self.report.add("items", len(self.skus))
        for n in range(self.c.customers):
            name = CUSTOMER_NAMES[n % len(CUSTOMER_NAMES)]
            code = f"{p}C{n + 1:03d}"
            orders.customer_upsert(code=code, name=name if n < len(CUSTOMER_NAMES) else f"{name} {n}")
            self.customers.append(code)
        self.report.add("customers", len(self.customers))
        self.suppliers_and_parts()
        self.carriers()

    def suppliers_and_parts(self) -> None:
        p = self.c.prefix
        self.say(f"suppliers: {self.c.suppliers} with part numbers")
        for n in range(self.c.suppliers):
            code = f"{p}S{n + 1:02d}"
            name = SUPPLIER_NAMES[n % len(SUPPLIER_NAMES)]
            supplier_services.supplier_upsert(
                code=code, name=name, isa_id=f"{p.upper()[:5]}SUP{n + 1:02d}"[:15], formats=["x12", "json"]
            )
            self.suppliers.append(code)
        for index, sku in enumerate(self.skus):
            supplier = self.suppliers[index % len(self.suppliers)]
            part = f"{supplier[-3:]}-{10000 + index}"
            supplier_services.supplier_item_upsert(supplier=supplier, supplier_part=part, sku=sku, pack_size=1)
            self.source_of[sku] = (supplier, part)
            if index % 7 == 0:
                other = self.suppliers[(index + 3) % len(self.suppliers)]
                supplier_services.supplier_item_upsert(supplier=other, supplier_part=f"ALT-{10000 + index}", sku=sku)
        self.dead_feed_supplier = supplier_services.supplier_upsert(
            code=self.suppliers[-1], feed_url="http://asn.partner.invalid/asn-feed", poll_interval_seconds=3600
        )
        self.report.add("suppliers", len(self.suppliers))
        self.report.add("supplier_parts", len(self.source_of))

    def carriers(self) -> None:
        for code, name, transit, default in CARRIERS:
            full = f"{self.c.prefix}{code}"
            shipment_services.carrier_upsert(
                code=full,
                name=name,
                transit_days=transit,
                is_default=default,
                service_levels=["standard", "express"],
                tracking_url_template=f"https://track.example/{code.lower()}/{{tracking_number}}",
            )
            self.transit_days[full] = transit
        self.report.add("carriers", len(CARRIERS))

    def opening_stock(self) -> None:
        self.say("opening stock")
        rng = self.rng
        when = timezone.now()
        for index, sku in enumerate(self.skus):
            if index % 10 == 9:
                continue  # a few SKUs start empty: the first orders backorder and wait for supply
            places = rng.sample(self.warehouses, k=rng.choice((1, 2, 2, 3)))
            fast = index % 60 < 12
            for place in places:
                qty = rng.randint(40, 160) if fast else rng.randint(5, 60)
                inventory.stock_receive(sku=sku, location=place, qty=qty, reference="opening stock", effective_at=when)
                self.report.add("receipts")

    def webhook_partner(self) -> None:
        """A partner endpoint that never answers: its deliveries end as dead letters."""
        self.dead_endpoint = webhook_services.webhook_endpoint_create(
            url="http://erp.partner.invalid/scm-events",
            secret="demo-secret-not-for-production",
            event_types=["OrderCancelled", "OrderFailed"],
            description=f"{self.c.prefix}Demo partner ERP (down since last month)",
        )

    # --- one day ---------------------------------------------------------------------------

    def play_day(self, day: date, offset: int) -> None:
        with self.at(day, 7.5):
            self.receive_due(day)
            self.drain()
        if offset % 7 == 1:
            with self.at(day, 8):
                self.replenish(day)
        with self.at(day, 8.5):
            self.ship_notices(day)
        if offset % 6 == 5 or offset >= self.c.days - 2:
            with self.at(day, 6):
                self.poll_failures(day)
        self.take_orders(day)
        with self.at(day, 17):
            self.drain()
        with self.at(day, 13):
            self.depart(day)
            self.drain()
        with self.at(day, 16):
            self.track(day)
            self.drain()
        with self.at(day, 17.5):
            self.exceptions(day, offset)
            self.drain()
        with self.at(day, 18):
            self.resume_workflows()
            self.drain()
            webhook_services.webhook_deliveries_send_due(endpoint_id=self.dead_endpoint.pk)

    def resume_workflows(self) -> None:
        """What the beat sweeper does: run every workflow step that is due (e.g. orders whose
        backorder was filled today and now need their shipment planned)."""
        for order_id in workflow.due_workflows():
            run_fulfillment_step(order_id)

    def receive_due(self, day: date) -> None:
        due = [entry for entry in self.inbound if entry["expected"] <= day and not entry.get("done")]
        for entry in due:
            if self.rng.random() < 0.15 and entry["expected"] > day - timedelta(days=3):
                continue  # the truck is late: received on a later day
            entry["done"] = True
            if entry.get("po_id") is not None:
                try:
                    supplier_services.purchase_order_receive(po_id=entry["po_id"], reference=f"GRN-{entry['number']}")
                except DomainError as exc:
                    self.report.notes.append(f"receipt of {entry['number']} refused: {exc.message}")
                    continue
            else:
                for line in entry["lines"]:
                    inventory.stock_receive(
                        sku=line["sku"],
                        location=entry["destination"],
                        qty=line["qty"],
                        reference=f"GRN-{entry['number']}",
                        inbound_reference=line["reference"],
                    )
            self.report.add("receipts", len(entry["lines"]))

    def replenish(self, day: date) -> None:
        suggestions = stock_selectors.replenishment_suggestions(now=timezone.now())
        mine = [s for s in suggestions if s.location in self.warehouses and s.sku in set(self.skus)]
        groups: dict[tuple[str, str], list] = {}
        for s in mine:
            supplier = self.source_of.get(s.sku, ("", ""))[0]
            groups.setdefault((supplier, s.location), []).append(s)
        for (supplier, destination), rows in sorted(groups.items()):
            self.po_counter += 1
            number = f"{self.c.prefix}PO-{day:%y%m%d}-{self.po_counter:03d}"
            lead = max(3, min(12, self.rng.randint(4, 9)))
            expected = day + timedelta(days=lead)
            lines = [{"sku": s.sku, "qty": s.suggested_qty, "unit_price": "1.25"} for s in rows]
            if supplier:
                order = supplier_services.purchase_order_create(
                    number=number,
                    supplier=supplier,
                    destination=destination,
                    lines=lines,
                    requested_date=expected,
                    source="replenishment",
                )
                supplier_services.purchase_order_send(po_id=order.pk)
                refs = self._confirm(order, expected)
                entry = {
                    "supplier": supplier,
                    "isa_id": order.supplier.isa_id,
                    "po_id": order.pk,
                    "number": number,
                    "destination": destination,
                    "expected": expected,
                    "lines": [{"sku": s.sku, "qty": s.suggested_qty, "reference": refs.get(s.sku, "")} for s in rows],
                }
            else:
                entry = {"po_id": None, "number": number, "destination": destination, "expected": expected, "lines": []}
                for n, s in enumerate(rows, start=1):
                    reference = f"PO-{number}/{n}"
                    inventory.inbound_add(
                        sku=s.sku,
                        location=destination,
                        qty=s.suggested_qty,
                        reference=reference,
                        expected_date=expected,
                        source="po",
                    )
                    entry["lines"].append({"sku": s.sku, "qty": s.suggested_qty, "reference": reference})
            self.inbound.append(entry)
            self.report.add("purchase_orders")

    def _confirm(self, order, expected: date) -> dict[str, str]:
        """The supplier confirms the order with its JSON acknowledgement, through the inbound message
        pipeline (which creates the inbound supply)."""
        lines = list(order.lines.order_by("line_no"))
        ack = {
            "document": "po_ack",
            "version": 1,
            "po_number": order.number,
            "lines": [
                {"line_number": line.line_no, "status": "accepted", "expected_date": expected.isoformat()}
                for line in lines
            ],
        }
        self.receive_message(json.dumps(ack).encode(), supplier=order.supplier)
        return {line.sku: line.inbound_reference for line in lines}

    def receive_message(self, body: bytes, *, supplier=None):
        """A supplier message arrives: stored byte-exact first, then processed (as the API does)."""
        message = supplier_inbound.inbound_message_store(body=body, source="api", supplier=supplier)
        message = supplier_inbound.inbound_message_process(message_id=message.pk)
        self.report.add("supplier_messages")
        if message.status == "QUARANTINED":
            self.report.add("quarantined")
        return message

    def ship_notices(self, day: date) -> None:
        """Suppliers announce what they ship two days before it arrives (X12 856); every fifth notice
        has something wrong with it (a date in another format, an unknown part number, a quantity
        that is not a number, a wrong segment count) and ends in quarantine."""
        for entry in self.inbound:
            if entry.get("asn") or entry.get("po_id") is None or entry["expected"] != day + timedelta(days=2):
                continue
            if self.rng.random() > 0.7:
                continue
            entry["asn"] = True
            self.asn_counter += 1
            # The first notice and every fifth after it are defective, so even a short demo month
            # shows a quarantined message.
            defect = DEFECTS[(self.asn_counter // 5) % len(DEFECTS)] if self.asn_counter % 5 == 1 else ""
            items = []
            for n, line in enumerate(entry["lines"], start=1):
                part = self.source_of.get(line["sku"], ("", ""))[1]
                if defect == "unknown_part" and n == 1:
                    part = f"NEW-{part}"
                qty = "five" if defect == "bad_qty" and n == 1 else str(line["qty"])
                items.append((str(n), part, qty))
            delivery = entry["expected"].strftime("%m/%d/%y" if defect == "bad_date" else "%Y%m%d")
            body = x12_856(
                sender=entry["isa_id"],
                control=self.asn_counter,
                shipment_id=f"{self.c.prefix}ASN{day:%y%m%d}{self.asn_counter:03d}",
                po_number=entry["number"],
                items=items,
                shipped=day,
                delivery=delivery,
                se_delta=1 if defect == "bad_count" else 0,
            )
            self.receive_message(body)

    def poll_failures(self, day: date) -> None:
        """One supplier's HTTP feed has been unreachable for days: its polls end as dead letters."""
        feed = self.dead_feed_supplier
        started = timezone.now().isoformat()
        for attempt in range(settings.SUPPLIER_POLL_RETRIES + 1):
            # Each try is one execution of the task, as a worker runs it after each retry's countdown.
            try:
                poll_supplier_feed.apply(kwargs={"supplier_id": feed.pk, "started_at": started}, retries=attempt)
            except Retry:
                continue
            break
        self.report.add("failed_polls")

    def take_orders(self, day: date) -> None:
        rng = self.rng
        count = max(1, round(self.c.orders_per_day * rng.uniform(0.7, 1.3)))
        for n in range(count):
            with self.at(day, 9 + 8 * n / count):
                self.take_order(day, n)

    def take_order(self, day: date, n: int) -> None:
        rng = self.rng
        customer = rng.choice(self.customers)
        skus = list(dict.fromkeys(self.pick_sku() for _ in range(rng.choice((1, 1, 2, 2, 3, 4)))))
        lines = [{"sku": sku, "qty": rng.choice((1, 2, 2, 3, 4, 5, 6, 8, 10, 12))} for sku in skus]
        try:
            order, _ = orders.order_create(
                customer=customer,
                external_id=f"{self.c.prefix}SO-{day:%y%m%d}-{n + 1:03d}",
                lines=lines,
                priority=rng.choice((1, 3, 5, 5, 5, 7)),
                requested_date=day + timedelta(days=rng.randint(2, 6)),
                ship_to=f"{customer} goods-in, dock {rng.randint(1, 9)}",
                start_workflow=False,
            )
        except DomainError as exc:
            self.report.notes.append(f"order refused: {exc.message}")
            return
        self.report.add("orders")
        self.fulfil(order.pk)

    def fulfil(self, order_id: int) -> None:
        """Run the order's fulfillment workflow as a worker would: reserve, then plan shipments."""
        run_fulfillment_step(order_id)

    def depart(self, day: date) -> None:
        today_start = timezone.make_aware(datetime.combine(day, time(0)))
        planned = shipment_selectors.shipments(status="PLANNED").filter(
            order_ref__startswith="order-", planned_at__lt=today_start, carrier__code__in=list(self.transit_days)
        )
        for shipment in planned.order_by("pk"):
            if self.rng.random() < 0.08:
                continue  # the warehouse did not get to it today
            try:
                shipment_services.shipment_depart(shipment_id=shipment.pk, note="picked and loaded")
            except DomainError as exc:
                self.report.notes.append(f"departure of shipment {shipment.pk} refused: {exc.message}")
                continue
            self.report.add("shipments_departed")

    def track(self, day: date) -> None:
        rng = self.rng
        moving = shipment_selectors.shipments().filter(
            status__in=["DEPARTED", "IN_TRANSIT"], carrier__code__in=list(self.transit_days)
        )
        for shipment in moving.order_by("pk"):
            departed = timezone.localdate(shipment.departed_at)
            age = (day - departed).days
            transit = self.transit_days.get(shipment.carrier.code, 2)
            silent = shipment.pk % 17 == 0
            slow = shipment.pk % 11 == 0
            if silent and 1 <= age <= 4:
                continue  # the carrier's feed goes quiet for a few days: late until it speaks again
            update: dict[str, Any] | None = None
            if shipment.status == "DEPARTED" and age >= 1:
                update = {"status": "IN_TRANSIT", "note": "arrived at hub"}
                if slow and shipment.pk not in self.delayed:
                    self.delayed.add(shipment.pk)
                    eta = (shipment.promised_date or day) + timedelta(days=rng.randint(1, 3))
                    update = {"status": "DELAYED", "note": "missed the linehaul", "estimated_arrival": eta.isoformat()}
            elif shipment.status == "IN_TRANSIT" and age >= transit + (2 if slow else 0):
                update = {"status": "DELIVERED", "note": "signed for at goods-in"}
            if update is None:
                continue
            update.update(
                tracking_number=shipment.tracking_number,
                carrier=shipment.carrier.code,
                occurred_at=timezone.now().isoformat(),
            )
            try:
                shipment_services.tracking_update_ingest(raw=update, source="api", shipment_id=shipment.pk)
            except DomainError as exc:
                self.report.notes.append(f"tracking update for shipment {shipment.pk} refused: {exc.message}")
                continue
            self.report.add("deliveries" if update["status"] == "DELIVERED" else "tracking_updates")

    def exceptions(self, day: date, offset: int) -> None:
        """The day's trouble: a cancellation or two, and now and then an order the workflow gives up on."""
        rng = self.rng
        open_orders = list(
            order_selectors.orders()
            .filter(customer__code__in=self.customers, status__in=[OrderStatus.BACKORDERED, OrderStatus.RESERVED])
            .order_by("-id")
            .values_list("id", "status")[:40]
        )
        cancelled = None
        if open_orders and rng.random() < 0.45:
            cancelled, _ = rng.choice(open_orders)
            with event_context(actor="user:ops"):
                orders.order_cancel(order_id=cancelled, reason=rng.choice(CANCEL_REASONS), actor="user:ops")
            self.report.add("cancelled")
        if offset % 9 == 4:
            waiting = [oid for oid, status in open_orders if status == OrderStatus.BACKORDERED and oid != cancelled]
            if waiting:
                orders.order_fail(
                    order_id=waiting[0],
                    reason="plan_shipment failed after 6 attempt(s): TmsUnavailable: TMS answered 503 six times",
                    step="plan_shipment",
                    attempts=6,
                )
                self.report.add("failed")

    # --- the end of the month ----------------------------------------------------------------

    def finish(self) -> None:
        self.resume_workflows()  # leave no step due behind (backorders filled by the last receipts)
        self.drain()
        marked = shipment_services.shipments_detect_late()
        self.report.add("delays_detected", len(marked))
        self.drain()
