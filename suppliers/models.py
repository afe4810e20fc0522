"""Suppliers models: filled in by the suppliers issue."""
