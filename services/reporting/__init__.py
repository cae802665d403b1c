"""Reporting: figures per site and period, built only from the other services ' events."""
