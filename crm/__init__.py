"""crm app."""
