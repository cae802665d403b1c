"""carenet's benchmark: each workload against carenet and a raw nats-py + asyncpg baseline.

Run it with ``make bench`` or ``python -m bench`` (``--help`` for the sizes); see README.md here.
"""
