"""Shipments tasks: filled in by the shipments issue."""
