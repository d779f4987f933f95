"""Built-in licence types as JSON data (demo codes; see README.md)."""
