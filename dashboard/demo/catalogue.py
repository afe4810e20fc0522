"""What the demo network is made of (names, families, warehouses, carriers, the defects its supplier
messages carry), its configuration and report, and the X12 856 its suppliers send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.conf import settings

from scm.events.store import stream_version

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
