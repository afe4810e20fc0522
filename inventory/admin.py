"""Inventory admin: filled in by the inventory issue."""
