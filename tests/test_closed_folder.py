"""Root on a fresh machine clones the kit into its home, /root, mode 0700: the checks' subject
runs as another uid and must still reach the kit's code and the learner's steps there."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mountlab import fsutil

COPIED = ("mountlab", "steps", "solutions", "conftest.py", "pyproject.toml")


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.isdir("/root"),
                    reason="needs root, whose home /root is the closed folder")
def test_checks_reach_a_kit_cloned_into_roots_home(pristine_kit):
    closed = Path(tempfile.mkdtemp(prefix="mountlab-closed-", dir="/root"))
    try:
        assert not os.stat(closed).st_mode & stat.S_IXOTH  # mode 0700: others cannot enter
        kit = closed / "kit"
        for name in COPIED:
            source = pristine_kit / name
            if source.is_dir():
                shutil.copytree(source, kit / name)
            else:
                kit.mkdir(exist_ok=True)
                shutil.copy2(source, kit / name)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOUNTLAB_")}
        proc = subprocess.run([sys.executable, "-m", "pytest", "steps/01", "--impl", "solutions",
                               "-q", "-p", "no:cacheprovider"], cwd=kit, env=env,
                              capture_output=True, text=True, timeout=300)
        assert "Step 1 — Create the volume directories: 20/20 points" in proc.stdout, \
            proc.stdout[-4000:]
        assert proc.returncode == 0
    finally:
        fsutil.remove_tree(closed)
