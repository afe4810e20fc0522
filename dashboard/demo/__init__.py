"""A believable supply network and a simulated month, driven through the real services.

Used by `manage.py seed_demo`. Nothing here writes a model: master data, stock, orders, purchase
orders, supplier messages, shipments and tracking all go through the domain services (and the
fulfillment workflow and event subscriptions run as they do in production), so the event log,
the ledger and every projection tell one consistent story.

The month is simulated by moving the clock (time-machine) to each day's working hours, so events,
ledger rows, orders and shipments carry times spread over the last `days` days, as if the system
had been running.

`catalogue` holds what the network is made of; `simulation` plays the month.
"""

from dashboard.demo.catalogue import DemoConfig, DemoReport, already_seeded, marker_stream, x12_856
from dashboard.demo.simulation import Simulation

__all__ = ["DemoConfig", "DemoReport", "Simulation", "already_seeded", "marker_stream", "x12_856"]
