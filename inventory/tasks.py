"""Inventory tasks: filled in by the inventory issue."""
