"""scripts/venv_needs.py (what a venv lacks of the kit's requirements, from the installed
distributions' metadata) and the way scripts/venv.sh uses it: a venv that lacks nothing gets the
kit alone from pip, without a resolution of every dependency nor a build environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mountlab import registry

SCRIPTS = registry.KIT_ROOT / "scripts"


def _wheel_lacking() -> list[str]:
    """What this venv lacks to build without isolation besides: wheel, with a setuptools before
    70.1 (a venv made by Python 3.11's ensurepip has 66) and no wheel."""
    from importlib import metadata

    from packaging.version import Version

    try:
        metadata.version("wheel")
        return []
    except metadata.PackageNotFoundError:
        return ["wheel"] if Version(metadata.version("setuptools")) < Version("70.1") else []


WHEEL = _wheel_lacking()


def needs(pyproject: Path, extras: str, *options: str) -> tuple[int, list[str]]:
    """venv_needs.py run by this venv's Python (the kit's own, with every extra installed)."""
    done = subprocess.run([sys.executable, str(SCRIPTS / "venv_needs.py"), *options,
                           str(pyproject), extras], capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout.splitlines()


def pyproject(tmp_path: Path, dependencies: list[str], extras: dict[str, list[str]] | None = None,
              build: list[str] | None = None) -> Path:
    # JSON's arrays of strings are TOML's too.
    lines = ["[build-system]", f"requires = {json.dumps(build or ['setuptools>=64'])}", "",
             "[project]", 'name = "kit"', f"dependencies = {json.dumps(dependencies)}", "",
             "[project.optional-dependencies]"]
    lines += [f"{name} = {json.dumps(reqs)}" for name, reqs in (extras or {}).items()]
    path = tmp_path / "pyproject.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_kit_s_own_venv_lacks_nothing():
    assert needs(registry.KIT_ROOT / "pyproject.toml", "notebooks,dev") == (0, [])


def test_to_build_it_lacks_nothing_but_wheel_where_its_setuptools_needs_it():
    assert needs(registry.KIT_ROOT / "pyproject.toml", "notebooks,dev", "--build") == (
        1 if WHEEL else 0, WHEEL)


@pytest.mark.parametrize("dependencies, extras, missing", [
    (["mountlab-no-such-package"], "", ["mountlab-no-such-package"]),
    (["pytest>=999"], "", ["pytest>=999"]),           # installed, but too old
    (["pytest", "rich"], "more", ["mountlab-no-such-package>=1"]),  # an extra asked for
    (["pytest"], "", []),                             # the extra not asked for: not needed
    (["pytest; python_version < '3'"], "", []),       # not for this Python
    (["pytest"], "typo", ["mountlab-unknown-extra-typo"]),  # an extra the kit does not have
])
def test_what_is_missing(tmp_path, dependencies, extras, missing):
    path = pyproject(tmp_path, dependencies, {"more": ["mountlab-no-such-package>=1"]})
    assert needs(path, extras) == (1 if missing else 0, missing)


def test_the_build_back_end_and_wheel_are_needed(tmp_path):
    """pip builds the kit in the venv itself then: setuptools before 70.1 needs wheel there."""
    path = pyproject(tmp_path, ["pytest"], build=["setuptools>=999"])
    assert needs(path, "") == (0, [])  # the venv's own needs: all there
    assert needs(path, "", "--build") == (1, sorted(["setuptools>=999", *WHEEL]))


def test_a_dependency_s_own_requirements_count(tmp_path):
    """pytest needs pluggy: a pluggy too old for it is missing, as pip's resolver would find."""
    from importlib import metadata

    pluggy = [r for r in metadata.requires("pytest") or [] if r.startswith("pluggy")]
    assert pluggy, "pytest no longer requires pluggy: pick another pair"
    fake = tmp_path / "site"
    info = fake / f"pytest-{metadata.version('pytest')}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: pytest\nVersion: "
                                   f"{metadata.version('pytest')}\nRequires-Dist: pluggy>=999\n")
    done = subprocess.run([sys.executable, "-c",
                           "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
                           "sys.argv[0] = sys.argv.pop(1); "
                           "runpy.run_path(sys.argv[0], run_name='__main__')",
                           str(fake), str(SCRIPTS / "venv_needs.py"),
                           str(pyproject(tmp_path, ["pytest"])), ""],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.split()) == (1, ["pluggy>=999"]), done.stderr


FAKE_PYTHON = """#!/bin/bash
# A venv's python that records what it is asked and answers venv_needs.py with $NEEDS.
printf "%s\n" "$*" >>"$LOG"
case "$1" in
  */venv_needs.py) exit "$NEEDS" ;;
esac
exit 0
"""


@pytest.mark.parametrize("needs_status, expected", [
    (0, [["-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
          "--no-build-isolation", "-e"]]),
    (1, [["-m", "pip", "install", "-q", "--disable-pip-version-check", "--upgrade", "pip"],
         ["-m", "pip", "install", "-q", "--disable-pip-version-check", "-e"]]),
    (2, [["-m", "pip", "install", "-q", "--disable-pip-version-check", "--upgrade", "pip"],
         ["-m", "pip", "install", "-q", "--disable-pip-version-check", "-e"]]),
])
def test_venv_sh_adds_the_kit_alone_when_nothing_is_missing(tmp_path, needs_status, expected):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text(FAKE_PYTHON)
    (venv / "bin" / "python").chmod(0o755)
    log = tmp_path / "calls"
    env = {"PATH": "/usr/bin:/bin", "MOUNTLAB_VENV": str(venv), "LOG": str(log),
           "NEEDS": str(needs_status), "MOUNTLAB_VENV_EXTRAS": "notebooks"}
    subprocess.run(["bash", "-euc", f'. "{SCRIPTS / "venv.sh"}"; mountlab_venv_create notebooks'],
                   env=env, capture_output=True, text=True, check=True, timeout=30)
    calls = [line.split() for line in log.read_text().splitlines()]
    assert calls[0] == ["-c"]  # the venv runs: updated, not made again
    assert calls[1][0].endswith("/venv_needs.py") and calls[1][1:2] + calls[1][3:] == [
        "--build", "notebooks"]
    pips = [call[:-1] if "-e" in call else call for call in calls[2:]]
    assert pips == expected
    assert all(call[-1] == f"{registry.KIT_ROOT}[notebooks]" for call in calls[2:] if "-e" in call)
