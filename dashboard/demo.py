"""A believable supply network and a simulated month, driven through the real services.

Used by `manage.py seed_demo`. Nothing here writes a model: master data, stock, orders, purchase
orders, supplier messages, shipments and tracking all go through the domain services (and the
fulfillment workflow and event subscriptions run as they do in production), so the event log,
the ledger and every projection tell one consistent story.

The month is simulated by moving the clock (time-machine) to each day's working hours, so events,
ledger rows, orders and shipments carry times spread over the last `days` days, as if the system
had been running. Domain apps that have not landed yet are skipped with a note.
"""

from __future__ import annotations

import importlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import time_machine
from django.conf import settings
from django.utils import timezone

from inventory import selectors as stock_selectors
from inventory import services as inventory
from orders import services as orders
from orders.models import OrderStatus
from scm.errors import DomainError
from scm.events import subscriptions
from scm.events.context import event_context
from scm.events.store import NewEvent, append, stream_version

FAMILIES = (
    ("BOLT", "Hex bolt", ("M6-020", "M6-040", "M8-030", "M8-050", "M10-060", "M12-080")),
    ("NUT", "Hex nut", ("M6", "M8", "M10", "M12", "M16")),
    ("WSH", "Washer", ("M6", "M8", "M10", "M12")),
    ("SCR", "Wood screw", ("3X20", "4X30", "4X40", "5X50", "6X80")),
    ("BRK", "Angle bracket", ("40", "60", "80", "100")),
    ("HNG", "Door hinge", ("75", "100", "125")),
    ("CBL", "Cable", ("1.5-10M", "2.5-10M", "2.5-50M", "4.0-50M")),
    ("GLV", "Work gloves", ("S", "M", "L", "XL")),
    ("TAP", "Tape", ("DUCT-50", "PAINT-25", "ELEC-19")),
    ("LMP", "LED lamp", ("E27-9W", "E27-12W", "GU10-5W", "E14-4W")),
    ("FLT", "Air filter", ("F7-592", "G4-287", "M5-592")),
    ("BAT", "Battery", ("AA", "AAA", "9V", "CR2032")),
    ("DRL", "Drill bit", ("HSS-4", "HSS-6", "HSS-8", "SDS-10")),
    ("PNT", "Paint", ("WHITE-1L", "WHITE-5L", "GREY-1L", "BLACK-1L")),
)
WAREHOUSES = (
    ("WH-EAST", "East distribution centre", 1),
    ("WH-CENTRAL", "Central warehouse", 2),
    ("WH-WEST", "West depot", 3),
)
CUSTOMER_NAMES = (
    "Acme Hardware",
    "Brightside Builders",
    "Cobalt Electric",
    "Delta Facilities",
    "Evergreen Homes",
    "Foxglove Interiors",
    "Granite Works",
    "Harbor Marine",
    "Ironclad Fabrication",
    "Juniper Schools",
    "Keystone Property",
    "Lumen Retail",
    "Meridian Hospitals",
    "Northwind Logistics",
    "Oakridge Council",
    "Pinnacle Offices",
    "Quarry Lane DIY",
    "Riverside Apartments",
    "Summit Contractors",
    "Tidewater Utilities",
    "Union Rail",
    "Vista Hotels",
    "Willow Care Homes",
    "Yardley Farms",
)
SUPPLIER_NAMES = (
    "Fastenal Trading",
    "Boltmaster GmbH",
    "Nordic Fixings",
    "Pacific Tools",
    "Lumenix Lighting",
    "CableCo",
    "SafeHands PPE",
    "Prime Paints",
    "Volt Batteries",
    "AirPure Filters",
    "Ironside Metalworks",
    "Atlas Supply",
)
CARRIERS = (
    ("FASTFREIGHT", "FastFreight", 2, True),
    ("PARCELNOW", "ParcelNow", 1, False),
    ("ROADLINE", "Roadline Haulage", 3, False),
)
DEFECTS = ("bad_date", "unknown_part", "bad_qty", "bad_count")
CANCEL_REASONS = ("customer changed their mind", "duplicate order from the web shop", "customer found a cheaper offer")


@dataclass
class DemoConfig:
    skus: int = 300
    customers: int = 24
    suppliers: int = 12
    days: int = 30
    orders_per_day: int = 10
    prefix: str = ""
    seed: int = 7


@dataclass
class DemoReport:
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n


def x12_856(
    *,
    sender: str,
    control: int,
    shipment_id: str,
    po_number: str,
    items: list[tuple[str, str, str]],
    shipped: date,
    delivery: str,
    se_delta: int = 0,
) -> bytes:
    """An X12 856 ship notice as a supplier sends it: one interchange, one group, one set, with
    shipment → order → item levels; `items` are (LIN01 line number, supplier part, quantity)."""
    receiver = settings.SCM_X12_ID
    stamp = shipped.strftime("%y%m%d")
    body = [f"BSN*00*{shipment_id}*{shipped:%Y%m%d}*0800*0001", "HL*1**S", f"DTM*011*{shipped:%Y%m%d}"]
    body.append(f"DTM*017*{delivery}")
    body += ["HL*2*1*O", f"PRF*{po_number}"]
    for level, (line_no, part, qty) in enumerate(items, start=3):
        body += [f"HL*{level}*2*I", f"LIN*{line_no}*VP*{part}", f"SN1**{qty}*EA"]
    body.append(f"CTT*{len(items)}")
    segments = [
        f"ISA*00*          *00*          *ZZ*{sender:<15}*{settings.SCM_X12_QUALIFIER}*{receiver:<15}"
        f"*{stamp}*0800*U*00401*{control:09d}*0*P*>",
        f"GS*SH*{sender}*{receiver}*{shipped:%Y%m%d}*0800*{control}*X*004010",
        "ST*856*0001",
        *body,
        f"SE*{len(body) + 2 + se_delta}*0001",
        f"GE*1*{control}",
        f"IEA*1*{control:09d}",
    ]
    return ("~\n".join(segments) + "~\n").encode("ascii")


def marker_stream(prefix: str = "") -> str:
    return f"demo-seed-{prefix}" if prefix else "demo-seed"


def already_seeded(prefix: str = "") -> bool:
    return stream_version(marker_stream(prefix)) > 0


def _provides(module_name: str, *names: str) -> Any:
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return module if all(hasattr(module, name) for name in names) else None


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
        self.shipping = _provides("shipments.services", "carrier_upsert", "shipment_depart", "tracking_update_ingest")
        self.shipment_reads = _provides("shipments.selectors", "shipments")
        self.supplying = _provides(
            "suppliers.services",
            "supplier_upsert",
            "supplier_item_upsert",
            "purchase_order_create",
            "purchase_order_send",
        )
        self.messages = _provides("suppliers.inbound", "inbound_message_store", "inbound_message_process")
        self.hooks = _provides("scm.webhooks.services", "webhook_endpoint_create", "webhook_deliveries_send_due")
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
        if self.supplying is None:
            self.report.notes.append("suppliers app not available: suppliers, part numbers and purchase orders skipped")
            self.say("  note: suppliers app not available yet; suppliers and part numbers skipped")
            return
        p = self.c.prefix
        self.say(f"suppliers: {self.c.suppliers} with part numbers")
        for n in range(self.c.suppliers):
            code = f"{p}S{n + 1:02d}"
            name = SUPPLIER_NAMES[n % len(SUPPLIER_NAMES)]
            self.supplying.supplier_upsert(
                code=code, name=name, isa_id=f"{p.upper()[:5]}SUP{n + 1:02d}"[:15], formats=["x12", "json"]
            )
            self.suppliers.append(code)
        for index, sku in enumerate(self.skus):
            supplier = self.suppliers[index % len(self.suppliers)]
            part = f"{supplier[-3:]}-{10000 + index}"
            self.supplying.supplier_item_upsert(supplier=supplier, supplier_part=part, sku=sku, pack_size=1)
            self.source_of[sku] = (supplier, part)
            if index % 7 == 0:
                other = self.suppliers[(index + 3) % len(self.suppliers)]
                self.supplying.supplier_item_upsert(supplier=other, supplier_part=f"ALT-{10000 + index}", sku=sku)
        self.dead_feed_supplier = self.supplying.supplier_upsert(
            code=self.suppliers[-1], feed_url="http://asn.partner.invalid/asn-feed", poll_interval_seconds=3600
        )
        self.report.add("suppliers", len(self.suppliers))
        self.report.add("supplier_parts", len(self.source_of))

    def carriers(self) -> None:
        if self.shipping is None:
            self.report.notes.append("shipments app not available: carriers and shipments skipped")
            self.say("  note: shipments app not available yet; carriers and shipments skipped")
            return
        for code, name, transit, default in CARRIERS:
            full = f"{self.c.prefix}{code}"
            self.shipping.carrier_upsert(
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
                inventory.receive(sku=sku, location=place, qty=qty, reference="opening stock", effective_at=when)
                self.report.add("receipts")

    def webhook_partner(self) -> None:
        """A partner endpoint that never answers: its deliveries end as dead letters."""
        if self.hooks is None:
            return
        self.dead_endpoint = self.hooks.webhook_endpoint_create(
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
        if self.shipping is not None:
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
            if self.hooks is not None and getattr(self, "dead_endpoint", None) is not None:
                self.hooks.webhook_deliveries_send_due(endpoint_id=self.dead_endpoint.pk)

    def resume_workflows(self) -> None:
        """What the beat sweeper does: run every workflow step that is due (e.g. orders whose
        backorder was filled today and now need their shipment planned)."""
        if self.shipping is None:
            return
        from orders import workflow
        from orders.tasks import run_fulfillment_step

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
                    self.supplying.purchase_order_receive(po_id=entry["po_id"], reference=f"GRN-{entry['number']}")
                except DomainError as exc:
                    self.report.notes.append(f"receipt of {entry['number']} refused: {exc.message}")
                    continue
            else:
                for line in entry["lines"]:
                    inventory.receive(
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
            if self.supplying is not None and supplier:
                order = self.supplying.purchase_order_create(
                    number=number,
                    supplier=supplier,
                    destination=destination,
                    lines=lines,
                    requested_date=expected,
                    source="replenishment",
                )
                self.supplying.purchase_order_send(po_id=order.pk)
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
                    inventory.add_inbound(
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
        """The supplier confirms the order: with its JSON acknowledgement through the inbound message
        pipeline when that exists (which creates the inbound supply), else the lines are expected as
        ordered (inbound supply added for each PO line)."""
        lines = list(order.lines.order_by("line_no"))
        if self.messages is not None:
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
        else:
            for line in lines:
                inventory.add_inbound(
                    sku=line.sku,
                    location=order.destination,
                    qty=line.qty,
                    reference=line.inbound_reference,
                    expected_date=expected,
                    source="po",
                )
        return {line.sku: line.inbound_reference for line in lines}

    def receive_message(self, body: bytes, *, supplier=None):
        """A supplier message arrives: stored byte-exact first, then processed (as the API does)."""
        message = self.messages.inbound_message_store(body=body, source="api", supplier=supplier)
        message = self.messages.inbound_message_process(message_id=message.pk)
        self.report.add("supplier_messages")
        if message.status == "QUARANTINED":
            self.report.add("quarantined")
        return message

    def ship_notices(self, day: date) -> None:
        """Suppliers announce what they ship two days before it arrives (X12 856); every fifth notice
        has something wrong with it (a date in another format, an unknown part number, a quantity
        that is not a number, a wrong segment count) and ends in quarantine."""
        if self.messages is None:
            return
        for entry in self.inbound:
            if entry.get("asn") or entry.get("po_id") is None or entry["expected"] != day + timedelta(days=2):
                continue
            if self.rng.random() > 0.7:
                continue
            entry["asn"] = True
            self.asn_counter += 1
            defect = DEFECTS[(self.asn_counter // 5) % len(DEFECTS)] if self.asn_counter % 5 == 0 else ""
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
        feed = getattr(self, "dead_feed_supplier", None)
        if feed is None:
            return
        from celery.exceptions import Retry

        from suppliers.tasks import poll_supplier_feed

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
        if self.shipping is None:
            orders.order_allocate(order_id=order_id)
            return
        from orders.tasks import run_fulfillment_step

        run_fulfillment_step(order_id)

    def depart(self, day: date) -> None:
        today_start = timezone.make_aware(datetime.combine(day, time(0)))
        planned = self.shipment_reads.shipments(status="PLANNED").filter(
            order_ref__startswith="order-", planned_at__lt=today_start, carrier__code__in=list(self.transit_days)
        )
        for shipment in planned.order_by("pk"):
            if self.rng.random() < 0.08:
                continue  # the warehouse did not get to it today
            try:
                self.shipping.shipment_depart(shipment_id=shipment.pk, note="picked and loaded")
            except DomainError as exc:
                self.report.notes.append(f"departure of shipment {shipment.pk} refused: {exc.message}")
                continue
            self.report.add("shipments_departed")

    def track(self, day: date) -> None:
        rng = self.rng
        moving = self.shipment_reads.shipments().filter(
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
                self.shipping.tracking_update_ingest(raw=update, source="api", shipment_id=shipment.pk)
            except DomainError as exc:
                self.report.notes.append(f"tracking update for shipment {shipment.pk} refused: {exc.message}")
                continue
            self.report.add("deliveries" if update["status"] == "DELIVERED" else "tracking_updates")

    def exceptions(self, day: date, offset: int) -> None:
        """The day's trouble: a cancellation or two, and now and then an order the workflow gives up on."""
        rng = self.rng
        from orders import selectors as order_selectors

        open_orders = list(
            order_selectors.orders()
            .filter(customer__code__in=self.customers, status__in=[OrderStatus.BACKORDERED, OrderStatus.RESERVED])
            .order_by("-id")
            .values_list("id", "status")[:40]
        )
        if open_orders and rng.random() < 0.45:
            order_id, _ = rng.choice(open_orders)
            with event_context(actor="user:ops"):
                orders.order_cancel(order_id=order_id, reason=rng.choice(CANCEL_REASONS), actor="user:ops")
            self.report.add("cancelled")
        if offset % 9 == 4:
            waiting = [oid for oid, status in open_orders if status == OrderStatus.BACKORDERED]
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
        if self.shipping is not None and hasattr(self.shipping, "shipments_detect_late"):
            marked = self.shipping.shipments_detect_late()
            self.report.add("delays_detected", len(marked))
        self.drain()
