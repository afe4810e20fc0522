"""Mappers: one transaction set in, one canonical dataclass out. Pure functions, no database, no rules.

Each mapper reads the segments it knows and ignores the rest (PO4, PKG, ITD, SAC, ... carry nothing the
services use yet). What it reads, it reads strictly: a value that does not parse raises
:class:`X12Error` naming the element, the value and what was expected, and the error names the
transaction set and group it came from, so the pipeline can quarantine and a 997 can point at it.

One module per transaction set, beside `common` (what they share).
"""

from suppliers.adapters.x12.mappers.application_advice import map_824
from suppliers.adapters.x12.mappers.functional_ack import map_997
from suppliers.adapters.x12.mappers.inventory_advice import map_846
from suppliers.adapters.x12.mappers.invoice import map_810
from suppliers.adapters.x12.mappers.po_ack import map_855
from suppliers.adapters.x12.mappers.purchase_order import map_850
from suppliers.adapters.x12.mappers.ship_notice import map_856

__all__ = ["map_810", "map_824", "map_846", "map_850", "map_855", "map_856", "map_997"]
