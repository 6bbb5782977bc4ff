"""The kit's bytecode, compiled by the grader itself before it grades anything.

A grading run never writes bytecode (``PYTHONDONTWRITEBYTECODE``, and the kit's tree is read-only
in its jail), so without caches every run compiles the kit's modules and rewrites the checks'
assertions again: about a third of a second of CPU per submission, a class's worth of minutes.
``warm`` writes those caches once, from the grading process, before any submission's code has
run: the kit's own source, compiled by the kit. Nothing a submission runs can write there (its
subject sees the kit's tree read-only, covered), so a cache found later is still the kit's.
"""

from __future__ import annotations

import compileall
import functools
import os
import subprocess
import sys
import threading
from pathlib import Path

from mountlab import registry

_lock = threading.Lock()
_warmed: set[tuple[str, ...]] = set()


def warm(targets: list[str], kit: Path = registry.KIT_ROOT) -> None:
    """Compile the kit's package and let pytest cache its rewritten checks (``targets``, folders
    relative to ``kit``), once per process; quietly nothing where the kit is not writable."""
    key = (str(kit), *targets)
    with _lock:  # grade-class grades from several threads
        if key in _warmed:
            return
        _warmed.add(key)
        if not os.access(kit, os.W_OK):
            return
        compileall.compile_dir(str(kit / "mountlab"), quiet=2, workers=1)
        if all(_cached(source) for source in _checks(kit, targets)):
            return
        env = {k: v for k, v in os.environ.items()
               if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith(("MOUNTLAB_", "PYTEST_"))}
        env.update(PYTHONPATH=str(kit), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
        # Collecting imports every check module through pytest's assertion rewriting, which
        # keeps its result beside the module (__pycache__/*-pytest-*.pyc).
        subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                        "-p", "no:cacheprovider", *targets], cwd=kit, env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120, check=False)


def _checks(kit: Path, targets: list[str]) -> list[Path]:
    found = [kit / "conftest.py"]
    for target in targets:
        found += sorted((kit / target).glob("test_*.py"))
    return found


def _cached(source: Path) -> bool:
    """pytest's rewritten copy of ``source`` is there, and not older than it."""
    tag = f"{sys.implementation.cache_tag}-pytest-{_pytest_version()}"
    pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
    try:
        return pyc.stat().st_mtime >= source.stat().st_mtime
    except OSError:
        return False


@functools.cache
def _pytest_version() -> str:
    from importlib import metadata  # not pytest itself: the grader never needs it otherwise

    return metadata.version("pytest")
