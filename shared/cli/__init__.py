"""The `carenet` command line: the local runtime, docs, reconcile, and every command and query."""
