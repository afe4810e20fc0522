"""Shipments models: filled in by the shipments issue."""
