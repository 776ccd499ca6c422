"""actions app."""
