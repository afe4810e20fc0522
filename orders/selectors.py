"""Orders selectors: filled in by the orders issue."""
