"""A tiny pair of services that exercise the bus kit end to end.

``notes`` takes an ``add_note`` command, stores the note and records ``notes.note.added``;
``tally`` consumes that event and counts it. Tally's effect is deliberately not idempotent on
its own (it increments a counter and appends a row), so any doubled delivery would show.
"""
