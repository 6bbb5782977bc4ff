"""Attack: skip instead of failing. Loads the real pytest (from the kit's virtualenv) and raises
its skip outcome; if pytest cannot be loaded, an exception built to look like it."""

import os
import sys

# The kit's virtualenv (visible to the subject: it runs the kit's interpreter).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attack_targets import TARGETS  # noqa: E402

sys.path.append(TARGETS["site"])
try:
    import pytest

    Skip = pytest.skip.Exception
except ImportError:
    Skip = type("Skipped", (BaseException,), {"__module__": "_pytest.outcomes"})


def setup_volume(volume_path, container_path):
    raise Skip("nothing to grade here")
