"""The ``slow`` marker: tests that take minutes (a VM, a fresh Debian, images from the network,
gradings in User-Mode Linux guests).

They are deselected by default, so that ``./workshop test`` on any machine ends without skipped
tests standing for "no time", and one line of the summary says how many were left out and how to
run them. They run with ``--slow`` (``./workshop test --slow``), with ``MOUNTLAB_SLOW=1``, and in
CI (``CI=true``), where a missing tool then fails them. A test named on the command line
(``path::name``) or chosen with ``-m`` runs whatever it is.

``slow(ci=False)``: longer than CI's budget (every attack graded in a guest of its own, say), so
only ``--slow`` and ``MOUNTLAB_SLOW=1`` run it. They also make a few tests exhaustive
(``exhaustive()``: a class of 30, every known bug through User-Mode Linux).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mountlab.workshop.ui import env_lang, tr

_LEFT_OUT = pytest.StashKey[int]()


def exhaustive() -> bool:
    """True with ``--slow`` or ``MOUNTLAB_SLOW=1``: every slow test, at its full size."""
    return os.environ.get("MOUNTLAB_SLOW") == "1"


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


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


def _runs(marker: pytest.Mark) -> bool:
    """Whether a test with this ``slow`` marker runs in this session."""
    return exhaustive() or (in_ci() and marker.kwargs.get("ci", True))


def select(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the slow tests unless something asks for them (pytest_collection_modifyitems)."""
    if exhaustive() or config.getoption("markexpr"):
        return
    named = _named(config)
    keep, left = [], []
    for item in items:
        marker = item.get_closest_marker("slow")
        if marker is None or _runs(marker) or any(item.nodeid.startswith(n) for n in named):
            keep.append(item)
        else:
            left.append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = keep
    config.stash[_LEFT_OUT] = len(left)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    left = config.stash.get(_LEFT_OUT, 0)
    if not left:
        return
    s = "s" if left > 1 else ""
    if in_ci():
        line = tr(env_lang(),
                  f"{left} slow test{s} not run (longer than CI's budget): ./workshop test --slow "
                  "(or MOUNTLAB_SLOW=1) runs them.",
                  f"{left} test{s} lent{s} non lancé{s} (plus longs que le budget de la CI) : "
                  "./workshop test --slow (ou MOUNTLAB_SLOW=1) les lance.")
    else:
        line = tr(env_lang(),
                  f"{left} slow test{s} not run (minutes each: a VM, a fresh Debian, images from "
                  "the network, gradings in guests): ./workshop test --slow (or MOUNTLAB_SLOW=1) "
                  "runs them (CI, those that fit its budget).",
                  f"{left} test{s} lent{s} non lancé{s} (des minutes chacun : une VM, une Debian "
                  "neuve, des images du réseau, des notations dans des invités) : ./workshop test "
                  "--slow (ou MOUNTLAB_SLOW=1) les lance (la CI, ceux qui tiennent dans son "
                  "budget).")
    terminalreporter.write_line(line)
