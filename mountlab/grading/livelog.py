"""A pytest plugin for the graders: ``--mountlab-livelog FILE`` keeps in FILE what every check
earned so far, one JSON line per finished check; ``read(FILE)`` makes of it a report in the
shape of ``--mountlab-report``, marked ``partial``.

When a submission hangs past its time limit or kills the pytest run, the final report is never
written; the grader then takes what this file says was earned before. The first line holds
every collected check, unearned; each later line one check's result (appended: a run killed in
the middle of a line loses that line only, never what came before).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

_config: pytest.Config | None = None
_fd: int | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("mountlab").addoption(
        "--mountlab-livelog", default=None, metavar="FILE",
        help="append to FILE the points of every check as it ends (for graders)")


def pytest_configure(config: pytest.Config) -> None:
    global _config
    _config = config


def _grader():
    path = _config.getoption("--mountlab-livelog") if _config else None
    return _config.pluginmanager.get_plugin("mountlab-grader") if path else None


def _append(line: dict) -> None:
    # One write of one whole line (dumps: its C encoder, not a Python loop of chunks).
    os.write(_fd, (json.dumps(line, ensure_ascii=False) + "\n").encode())


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    global _fd
    grader = _grader()
    if grader is None:
        return
    from mountlab.grading import plugin

    _fd = os.open(_config.getoption("--mountlab-livelog"),
                  os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o644)
    _append({"impl": grader.impl, "lang": grader.lang,
             "checks": [plugin.plain_check(c, outputs=False) for c in grader.results.values()]})


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid: str, location: tuple) -> None:
    grader = _grader()
    if grader is None or _fd is None:
        return
    from mountlab.grading import plugin

    result = grader.results.get(plugin.check_id(nodeid))
    if result is not None:  # points: tracebacks would make the file long
        _append({"check": plugin.plain_check(result, outputs=False)})


def read(path: str | os.PathLike) -> dict | None:
    """The report the lines of ``path`` add up to (``partial``), or None when it has none."""
    from mountlab.grading import plugin

    try:
        lines = Path(path).read_bytes().split(b"\n")
        first = json.loads(lines[0])
        results = {c["nodeid"]: plugin.CheckResult(**c) for c in first["checks"]}
        for line in lines[1:]:
            try:
                check = json.loads(line)["check"]
            except (ValueError, KeyError, TypeError):
                continue  # the line being written when the run was killed
            if check.get("nodeid") in results:
                results[check["nodeid"]] = plugin.CheckResult(**check)
        steps = plugin.step_results(results.values(), first["lang"])
        return {**plugin.report_of(steps, first["impl"], outputs=False), "partial": True}
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
