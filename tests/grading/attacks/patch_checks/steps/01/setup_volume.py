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


def _checked(path) -> bool:
    """A path of a check (its scratch folder): lie about those only, so that the kit's own
    loader in this process still finds this file."""
    return "/test_" in os.fspath(path) if isinstance(path, (str, bytes, os.PathLike)) else False


def _lie(real, answer):
    def patched(path, *args, **kwargs):
        return answer(path) if _checked(path) else real(path, *args, **kwargs)
    return patched


_DIR = os.stat_result((stat.S_IFDIR | 0o755, 1, 1, 2, 0, 0, 4096, 0, 0, 0))
os.stat = _lie(os.stat, lambda p: _DIR)
os.lstat = _lie(os.lstat, lambda p: _DIR)
os.path.isdir = _lie(os.path.isdir, lambda p: True)
os.path.exists = _lie(os.path.exists, lambda p: True)
os.path.isfile = _lie(os.path.isfile, lambda p: False)
os.path.ismount = _lie(os.path.ismount, lambda p: False)
pathlib.Path.is_dir = _lie(pathlib.Path.is_dir, lambda p: True)
pathlib.Path.exists = _lie(pathlib.Path.exists, lambda p: True)
pathlib.Path.stat = _lie(pathlib.Path.stat, lambda p: _DIR)
builtins.AssertionError = type("AssertionError", (Exception,), {})
builtins.open = _lie(builtins.open, lambda p: builtins.__dict__["__import__"]("io").StringIO())

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
