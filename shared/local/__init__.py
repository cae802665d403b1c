"""The local runtime: real NATS and PostgreSQL from PyPI packages, and `carenet up`."""
