"""Suppliers admin: filled in by the suppliers issue."""
