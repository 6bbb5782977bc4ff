"""``python -m mountlab.runtime``: what ``./container`` runs."""

import sys

from mountlab.runtime.cli import main

sys.exit(main())
