"""Attack: patch what the checks use. At import time, replace os.stat, os.lstat, os.path.isdir,
pathlib's checks, open(), the kit's mountinfo and snapshot helpers and pytest itself with
versions that say "all is well"; then do nothing. In the old design the checks ran in this very
interpreter and believed it."""

import builtins
import os
import os.path
import pathlib
import stat
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attack_kit  # noqa: E402,F401


def _fake_stat(*args, **kwargs):
    return os.stat_result((stat.S_IFDIR | 0o755, 1, 1, 2, 0, 0, 4096, 0, 0, 0))


os.stat = os.lstat = _fake_stat
os.path.isdir = os.path.exists = os.path.lexists = lambda *a, **k: True
os.path.isfile = os.path.islink = os.path.ismount = lambda *a, **k: False
pathlib.Path.is_dir = pathlib.Path.exists = lambda self, *a, **k: True
pathlib.Path.stat = lambda self, *a, **k: _fake_stat()
builtins.AssertionError = type("AssertionError", (Exception,), {})
_open = builtins.open
builtins.open = lambda file, *a, **k: _open(os.devnull, *a, **k)

try:
    from mountlab import mountinfo
    from mountlab.grading import checks

    mountinfo.read = lambda *a, **k: []
    mountinfo.is_mountpoint = lambda *a, **k: False
    mountinfo.find = lambda *a, **k: []
    checks.snapshot = lambda *a, **k: {}
    checks.same_file = lambda *a, **k: True
    checks.write_fails_with_erofs = lambda *a, **k: True
except Exception:  # noqa: BLE001
    pass

fake_pytest = types.ModuleType("pytest")
fake_pytest.raises = lambda *a, **k: None
sys.modules["pytest"] = sys.modules["_pytest"] = fake_pytest


def setup_volume(volume_path, container_path):
    return None
