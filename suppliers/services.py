"""Suppliers services: filled in by the suppliers issue."""
