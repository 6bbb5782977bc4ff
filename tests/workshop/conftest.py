"""A throwaway copy of the kit for each test that runs ``./workshop`` commands: the commands
grade, write hints' state, reset files and back them up, so they never run on the kit itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from mountlab import registry
from tests import skeletons

ROOT = registry.KIT_ROOT
COPIED = ("mountlab", "steps", "solutions", "conftest.py", "pyproject.toml")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.bak-*", ".pytest_cache")


@dataclass
class Kit:
    root: Path
    state: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MOUNTLAB_", "PYTEST_", "LC_"))
               and k not in ("LANG", "NO_COLOR")}
        env.update(XDG_STATE_HOME=str(self.state), LANG="C.UTF-8", PYTHONPATH=str(self.root))
        env.update(extra)
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "mountlab", *args]

    def run(self, *args: str, input: str | None = None, timeout: float = 120,
            **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), cwd=self.root, env=self.env(**env),
                              input=input, capture_output=True, text=True, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def file(self, number: int) -> Path:
        s = registry.get(number)
        return self.root / "steps" / s.folder / s.filename

    def solve(self, number: int) -> None:
        """Do what a learner does: write a working step into steps/NN."""
        s = registry.get(number)
        shutil.copyfile(self.root / "solutions" / s.folder / s.filename, self.file(number))

    def git_init(self) -> None:
        def git(*args: str) -> None:
            subprocess.run(["git", "-c", "user.name=kit", "-c", "user.email=kit@example.org",
                            "-c", "init.defaultBranch=main", *args], cwd=self.root, check=True,
                           capture_output=True)
        git("init", "-q")
        git("add", "-A")
        git("commit", "-q", "-m", "the kit")
        self.git = git


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    copy = tmp_path / "kit"
    copy.mkdir()
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=IGNORE, symlinks=True)
        elif source.exists():
            shutil.copy2(source, copy / name)
    skeletons.restore(copy)  # the shipped skeletons, not this checkout's work in progress
    return Kit(copy, tmp_path / "state")


def no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
