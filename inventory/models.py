"""Inventory models: filled in by the inventory issue."""
