"""``python -m mountlab`` (what ``./workshop`` runs)."""

import sys

from mountlab.workshop.cli import main

if __name__ == "__main__":
    sys.exit(main())
