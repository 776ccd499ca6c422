"""workflows app."""
