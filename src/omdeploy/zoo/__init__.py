"""Model architectures written by the project, for the demo and tests (weights come from the asset cache)."""
