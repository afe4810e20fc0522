"""Inventory services: filled in by the inventory issue."""
