"""Attack: GeneratorExit, pytest's exit outcome and an exception named like pytest's skip."""

import glob
import os
import sys

for site in glob.glob(os.path.join(sys.prefix, "lib", "python3*", "site-packages")):
    sys.path.append(site)
try:
    import pytest

    Exit = pytest.exit.Exception
except ImportError:
    Exit = type("Exit", (SystemExit,), {"__module__": "_pytest.outcomes"})

Skipped = type("Skipped", (Exception,), {"__module__": "_pytest.outcomes"})


def resolve_target(rootfs, container_path):
    raise GeneratorExit


def setup_container_volumes(container_id, rootfs, volumes):
    raise Exit("grading finished", returncode=0)


def teardown_container_volumes(container_id, mounted):
    raise Skipped("skipped")
