"""The reliability campaign: real processes, real faults, exact books (see docs/reliability.md)."""
