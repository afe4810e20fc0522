"""Shipments admin: filled in by the shipments issue."""
