"""Built-in simulators (the embedded default source of each family)."""
