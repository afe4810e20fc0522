"""Orders services: filled in by the orders issue."""
