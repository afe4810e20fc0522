"""Orders tasks: filled in by the orders issue."""
