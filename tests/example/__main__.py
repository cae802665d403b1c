"""``python -m tests.example notes`` or ``python -m tests.example tally [batch_size]``."""

import sys

from shared.kit.service import main
from tests.example.services import NOTES, tally

if __name__ == "__main__":
    if sys.argv[1:2] == ["notes"]:
        main("notes", lambda settings: NOTES)
    elif sys.argv[1:2] == ["cases"]:
        from tests.example.ordering import cases

        batch_size = int(sys.argv[2]) if len(sys.argv) > 2 else 1
        main("cases", lambda settings: cases(batch_size))
    else:
        batch_size = int(sys.argv[2]) if len(sys.argv) > 2 else 1
        main("tally", lambda settings: tally(batch_size))
