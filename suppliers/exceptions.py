"""Suppliers exceptions: filled in by the suppliers issue."""
