"""The runtime kit every service is built on: contracts, bus, database, observability, bootstrap."""
