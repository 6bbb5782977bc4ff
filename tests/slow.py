"""The ``slow`` marker: tests that take minutes (a VM, a fresh Debian, images from the network).

They are deselected by default, so that ``./workshop test`` on any machine ends without skipped
tests standing for "no time", and one line of the summary says how many were left out and how to
run them. They run with ``--slow`` (``./workshop test --slow``), with ``MOUNTLAB_SLOW=1``, and in
CI (``CI=true``), where a missing tool then fails them. A test named on the command line
(``path::name``) or chosen with ``-m`` runs whatever it is.

``--slow`` and ``MOUNTLAB_SLOW=1`` also make a few tests exhaustive (``exhaustive()``: a class of
30, every known bug through User-Mode Linux): longer than CI's budget, so CI runs them at their
everyday size.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mountlab.workshop.ui import env_lang, tr

_LEFT_OUT = pytest.StashKey[int]()


def exhaustive() -> bool:
    """True with ``--slow`` or ``MOUNTLAB_SLOW=1``: the slow tests at their full size."""
    return os.environ.get("MOUNTLAB_SLOW") == "1"


def why_run(config: pytest.Config) -> str:
    """What makes the slow tests run ("" when nothing does)."""
    if config.getoption("slow"):
        return "--slow"
    if exhaustive():
        return "MOUNTLAB_SLOW=1"
    if os.environ.get("CI") == "true":
        return "CI=true"
    return ""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run the tests marked slow (minutes each: a VM, a fresh Debian, "
                          "images from the network), at their full size; same as MOUNTLAB_SLOW=1")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("slow"):
        # The full sizes are read where the tests are defined, and by their subprocesses.
        os.environ["MOUNTLAB_SLOW"] = "1"


def _named(config: pytest.Config) -> list[str]:
    """The node ids named on the command line (``path::name``), relative to the rootdir."""
    named = []
    for arg in config.args:
        path, sep, rest = arg.partition("::")
        if sep:
            where = Path(path).resolve()
            if where.is_relative_to(config.rootpath):
                named.append(f"{where.relative_to(config.rootpath).as_posix()}::{rest}")
    return named


def select(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the slow tests unless something asks for them (pytest_collection_modifyitems)."""
    if why_run(config) or config.getoption("markexpr"):
        return
    named = _named(config)
    keep, left = [], []
    for item in items:
        slow = item.get_closest_marker("slow") is not None
        if slow and not any(item.nodeid.startswith(n) for n in named):
            left.append(item)
        else:
            keep.append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = keep
    config.stash[_LEFT_OUT] = len(left)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    left = config.stash.get(_LEFT_OUT, 0)
    if left:
        terminalreporter.write_line(tr(
            env_lang(),
            f"{left} slow test{'s' if left > 1 else ''} not run (minutes each: a VM, a fresh "
            "Debian, images from the network): ./workshop test --slow (or MOUNTLAB_SLOW=1) runs "
            "them; CI does.",
            f"{left} test{'s' if left > 1 else ''} lent{'s' if left > 1 else ''} non "
            f"lancé{'s' if left > 1 else ''} (des minutes chacun : une VM, une Debian neuve, des "
            "images du réseau) : ./workshop test --slow (ou MOUNTLAB_SLOW=1) les lance ; la CI "
            "aussi."))
