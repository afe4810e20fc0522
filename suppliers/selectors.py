"""Suppliers selectors: filled in by the suppliers issue."""
