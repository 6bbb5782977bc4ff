"""A pytest plugin for the graders: ``--mountlab-livelog FILE`` rewrites FILE after every check
with the points so far, in the shape of ``--mountlab-report``.

When a submission hangs past its time limit or kills the pytest run, the final report is never
written; the grader then takes what this file says was earned before.
"""

from __future__ import annotations

import json
import os

import pytest

_config: pytest.Config | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("mountlab").addoption(
        "--mountlab-livelog", default=None, metavar="FILE",
        help="rewrite FILE with the points so far after every check (for graders)")


def pytest_configure(config: pytest.Config) -> None:
    global _config
    _config = config


def snapshot(config: pytest.Config) -> dict | None:
    """The report so far, as ``--mountlab-report`` would write it now."""
    grader = config.pluginmanager.get_plugin("mountlab-grader")
    if grader is None:
        return None
    # Points only: tracebacks would make every rewrite longer.
    return {**grader.report(outputs=False), "partial": True}


def _write() -> None:
    path = _config.getoption("--mountlab-livelog") if _config else None
    data = snapshot(_config) if path else None
    if data is None:
        return
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:  # dumps, not dump: its C encoder, not a Python loop of chunks
        f.write(json.dumps(data, ensure_ascii=False))
    os.replace(tmp, path)  # a reader never sees half a file, even if we are killed mid-write


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    _write()


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid: str, location: tuple) -> None:
    _write()
