"""carenet's four services; each runs as ``python -m services.<name>``."""
