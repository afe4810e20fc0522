"""Inventory exceptions: filled in by the inventory issue."""
