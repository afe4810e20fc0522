"""Shipments exceptions: filled in by the shipments issue."""
