"""Intake: where every person enters carenet, and the only place their personal data lives."""
