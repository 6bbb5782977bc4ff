"""Fixtures for the backends' tests: a copy of the kit an unprivileged uid can read, and a way to
run a command where the kernel refuses every mount and namespace (``confine.py``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from mountlab import registry
from tests import skeletons

NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-seccomp is for it
CONFINE = Path(__file__).with_name("confine.py")
# What a grading run imports besides the kit and the standard library.
PACKAGES = ["pytest", "_pytest", "pluggy", "iniconfig", "packaging", "py", "tomli", "rich",
            "markdown_it", "mdurl", "pygments"]


def need(condition: bool, reason: str) -> None:
    """Skip with ``reason`` when ``condition`` is false; under CI=true, fail instead."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must have it: see .ci/run)")
    pytest.skip(reason)


def _seccomp_available() -> bool:
    return subprocess.run([SYSTEM_PYTHON, "-c", "import seccomp"],
                          capture_output=True).returncode == 0


@dataclass
class Kit:
    python: str
    root: Path  # the copy of the kit
    site: Path  # the packages it imports (its virtualenv's site-packages)
    top: Path

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
                "PYTHONPATH": str(self.root), "PYTHONDONTWRITEBYTECODE": "1",
                "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **extra}

    def scratch(self, name: str) -> Path:
        """A folder the unprivileged uid owns."""
        path = self.top / name
        path.mkdir()
        os.chown(path, NOBODY, NOBODY)
        return path


@pytest.fixture(scope="session")
def nobody_kit():
    """The kit (solutions and instructor checks included) and its packages, copied where uid
    65534 can read them: the guest runs as that uid and reads them through hostfs."""
    need(os.geteuid() == 0, "needs root, to switch to the unprivileged uid")
    need(shutil.which("setpriv") is not None, "setpriv (util-linux) is not installed")
    need(shutil.which("linux.uml") is not None, "linux.uml is not installed "
         "(apt-get install user-mode-linux)")
    need(_seccomp_available(), "python3-seccomp is not installed (apt-get install "
         "python3-seccomp)")
    top = Path(tempfile.mkdtemp(prefix="mountlab-uml-kit-"))
    os.chmod(top, 0o755)
    kit = top / "kit"
    # A virtualenv of its own (the grader sets PYTHONPATH to the kit alone, so the packages
    # must be in the interpreter's own site-packages), on the same base interpreter.
    subprocess.run([os.path.realpath(sys.executable), "-m", "venv", "--without-pip",
                    str(top / "venv")], check=True)
    python = str(top / "venv" / "bin" / "python")
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True,
                               check=True).stdout.strip())
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "steps", "mountlab",
                            "solutions", "instructor", "conftest.py", "pyproject.toml"],
                           cwd=registry.KIT_ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        if (registry.KIT_ROOT / name).is_file():
            (kit / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(registry.KIT_ROOT / name, kit / name)
    skeletons.restore(kit)  # the shipped skeletons, not what a learner has begun in steps/
    for name in PACKAGES:
        try:
            module = __import__(name)
        except ImportError:
            continue
        origin = Path(module.__file__)
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, site / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(origin, site)
    subprocess.run(["chmod", "-R", "a+rX", str(top)], check=True)
    yield Kit(python, kit, site, top)
    shutil.rmtree(top)


def confined(command: list[str], *, env: dict[str, str], cwd: Path,
             timeout: float = 1500) -> subprocess.CompletedProcess:
    """``command`` as uid 65534 with no capability, no_new_privs, and the seccomp filter that
    refuses every mount and namespace (tests/backends/confine.py)."""
    # The filter's source is given to python as text: uid 65534 may not reach the kit's own
    # file (a clone in root's home, mode 0700); the command given is in a reachable copy.
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         "--inh-caps=-all", "--bounding-set=-all", SYSTEM_PYTHON, "-c", CONFINE.read_text(),
         *command],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def mount_table() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return set(f.read().splitlines())


@pytest.fixture(scope="session")
def gradescope_validator():
    import json

    jsonschema = pytest.importorskip("jsonschema")
    schema = Path(__file__).parent.parent / "grading" / "gradescope_results.schema.json"
    return jsonschema.Draft202012Validator(json.loads(schema.read_text()))
