"""PostgreSQL: pools, per-service schema migrations, and the unit of work (with its outbox)."""
