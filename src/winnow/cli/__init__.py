"""The command-line interface: a thin layer, one module per command, imported lazily."""
