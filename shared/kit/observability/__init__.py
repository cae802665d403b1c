"""Health, readiness, metrics and JSON logs, the same for every service."""
