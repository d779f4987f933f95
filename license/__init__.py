"""license package."""
