"""The staff console: a web front end that talks to the services only through their commands
and queries, with the signed-in member of staff's own token (see docs/console.md)."""
