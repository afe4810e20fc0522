"""Shipments selectors: filled in by the shipments issue."""
