"""Suppliers tasks: filled in by the suppliers issue."""
