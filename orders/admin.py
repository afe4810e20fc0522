"""Orders admin: filled in by the orders issue."""
