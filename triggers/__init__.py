"""triggers app."""
