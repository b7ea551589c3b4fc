"""hamopt."""
