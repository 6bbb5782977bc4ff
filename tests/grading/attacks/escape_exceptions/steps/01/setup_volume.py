"""Attack: skip instead of failing. Loads the real pytest (from the kit's virtualenv) and raises
its skip outcome; if pytest cannot be loaded, an exception built to look like it."""

import glob
import os
import sys

for site in glob.glob(os.path.join(sys.prefix, "lib", "python3*", "site-packages")):
    sys.path.append(site)
try:
    import pytest

    Skip = pytest.skip.Exception
except ImportError:
    Skip = type("Skipped", (BaseException,), {"__module__": "_pytest.outcomes"})


def setup_volume(volume_path, container_path):
    raise Skip("nothing to grade here")
