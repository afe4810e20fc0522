"""Shipments services: filled in by the shipments issue."""
