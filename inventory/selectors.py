"""Inventory selectors: filled in by the inventory issue."""
