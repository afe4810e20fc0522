"""Orders exceptions: filled in by the orders issue."""
