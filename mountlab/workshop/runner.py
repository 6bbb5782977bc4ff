"""Grade steps quickly for ``status``, ``watch``, ``hint`` and ``solution``.

It is the grading plugin's own run (``pytest steps/NN --mountlab-report FILE``), so the points are
exactly those of ``pytest steps/NN``; only faster, for a command that must answer in under two
seconds:

- pytest is imported once, here, then the run is forked into a few workers that each call
  ``pytest.main`` on a share of the checks (a check's cases stay together). Forking saves each
  worker the ~0.3 s import of pytest; several workers overlap the checks that sleep (EBUSY retries)
  and use both cores.
- third-party pytest plugins are not loaded (``nbval`` alone costs seconds to import); the
  traceback text is not rendered (``--tb=no``): the plugin's reasons are what we show.

Nothing is kept between runs: the code on disk is graded every time, so nothing can drift.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mountlab import registry

#: A shorter per-check limit than pytest's 10 s: an endless loop in the learner's code must not
#: make ``status`` hang for long. Checks that set their own limit keep it.
CHECK_TIMEOUT = 5.0


@dataclass
class Check:
    nodeid: str
    doc: str
    passed: bool
    points: int
    max_points: int
    reason: str
    section: str


@dataclass
class StepGrade:
    step: registry.Step
    points: int = 0
    max_points: int = 0
    checks: list[Check] = field(default_factory=list)
    problem: str = ""  # the step's file is missing or does not import, its folder is missing...

    @property
    def done(self) -> bool:
        return not self.problem and bool(self.checks) and self.points == self.step.points \
            and all(c.passed for c in self.checks)

    @property
    def first_failure(self) -> Check | None:
        return next((c for c in self.checks if not c.passed), None)


@dataclass
class Grades:
    impl: str
    steps: dict[int, StepGrade]
    errors: list[str] = field(default_factory=list)  # the run itself failed (collection, usage)
    seconds: float = 0.0

    @property
    def points(self) -> int:
        return sum(g.points for g in self.steps.values())

    @property
    def max_points(self) -> int:
        return sum(g.step.points for g in self.steps.values())

    def current(self) -> StepGrade | None:
        """The first step not done yet (None when all are)."""
        return next((g for g in self.steps.values() if not g.done), None)


class _Shard:
    """pytest plugin for one worker: keep every ``count``-th check, starting at ``index``."""

    def __init__(self, index: int, count: int, order_file: str) -> None:
        self.index, self.count, self.order_file = index, count, order_file

    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        order: dict[str, int] = {}
        keep, drop = [], []
        for item in items:
            number = order.setdefault(item.nodeid.split("[", 1)[0], len(order))
            (keep if number % self.count == self.index else drop).append(item)
        if self.index == 0:  # one worker tells the order in which the checks are written
            Path(self.order_file).write_text(json.dumps(list(order)))
        if drop:
            # The grading plugin learns of the deselection, so it accepts a partial step total.
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


def default_workers() -> int:
    # More workers than cores: several checks sleep (EBUSY retries, time limits).
    return max(2, min(6, 2 * (os.cpu_count() or 1)))


def _worker(args: list[str], shard: _Shard, log: str) -> None:
    """In the forked child: run pytest on our share, then leave without cleanup handlers."""
    code = 3
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(registry.KIT_ROOT)
        import pytest

        code = int(pytest.main(args, plugins=[shard]))
    except BaseException:  # noqa: B036 - whatever happens, the parent must hear of it
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _import_problem(number: int, impl: str) -> str:
    """Why step ``number``'s file cannot be used ("" when it imports), found in a sandbox: the
    learner's top-level code might mount something, and must not do it on the host."""
    from mountlab import sandbox

    def try_import() -> str:
        from mountlab import impl as impl_mod

        try:
            impl_mod.load(number, impl)
        except impl_mod.StepImportError as exc:
            return str(exc)
        return ""

    try:
        return sandbox.run(try_import, timeout=3.0)
    except sandbox.SandboxTimeout:
        return (f"importing steps/{registry.get(number).folder}/{registry.get(number).filename} "
                "took more than 3 s: does code at the top level of the file run forever?")
    except sandbox.ChildRaised as exc:
        return f"the file does not import: {exc.text.splitlines()[-1]}"
    except sandbox.SandboxError:
        return ""  # no namespaces here: the checks will say so


def _relative(text: str) -> str:
    return text.replace(str(registry.KIT_ROOT) + os.sep, "")


def grade(numbers: list[int] | None = None, *, impl: str | None = None, lang: str = "en",
          workers: int | None = None, check_timeout: float = CHECK_TIMEOUT) -> Grades:
    """Grade the steps ``numbers`` (default: all) of ``impl`` (default: ``MOUNTLAB_IMPL`` or the
    learner's ``steps``) with the graded checks of ``steps/NN``."""
    import pytest  # noqa: F401 - imported before the fork, so that the workers share it

    from mountlab import impl as impl_mod
    from mountlab.grading import plugin  # noqa: F401 - the same: shared with the workers

    started = time.monotonic()
    impl = impl or impl_mod.active()
    wanted = [registry.get(n) for n in (numbers or [s.number for s in registry.steps()])]
    grades = Grades(impl=impl, steps={s.number: StepGrade(s) for s in wanted})
    targets = []
    for s in wanted:
        folder = registry.KIT_ROOT / "steps" / s.folder
        if not folder.is_dir():
            grades.steps[s.number].problem = (f"the folder steps/{s.folder} is missing: restore it "
                                              f"(git checkout -- steps/{s.folder})")
        elif not any(folder.glob("test_*.py")):
            grades.steps[s.number].problem = (f"steps/{s.folder} has no checks (test_*.py): "
                                              f"restore them (git checkout -- steps/{s.folder})")
        else:
            targets.append(f"steps/{s.folder}")
    if not impl_mod.folder(impl).is_dir():
        grades.errors.append(f"{_relative(str(impl_mod.folder(impl)))}/ is missing: this copy "
                             "of the kit is incomplete")
        targets = []
    if not targets:
        grades.seconds = time.monotonic() - started
        return grades

    count = workers or default_workers()
    with tempfile.TemporaryDirectory(prefix="mountlab-status-") as tmp:
        order_file = os.path.join(tmp, "order.json")
        args = [*targets, "-q", "--tb=no", "-rN", "--no-header", "-p", "no:cacheprovider",
                "--impl", impl, "--lang", lang, "--check-timeout", f"{check_timeout:g}"]
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # inherited by the workers only
        sys.stdout.flush()
        sys.stderr.flush()
        pids = {}
        try:
            for k in range(count):
                report = os.path.join(tmp, f"report-{k}.json")
                pid = os.fork()
                if pid == 0:
                    _worker([*args, "--mountlab-report", report], _Shard(k, count, order_file),
                            os.path.join(tmp, f"log-{k}.txt"))
                pids[pid] = k
            # While the workers grade, check that each step's file imports (in a sandbox).
            for s in wanted:
                if not grades.steps[s.number].problem:
                    grades.steps[s.number].problem = _relative(_import_problem(s.number, impl))
            codes = {}
            while pids:
                pid, status = os.wait()
                if pid in pids:
                    codes[pids.pop(pid)] = os.waitstatus_to_exitcode(status)
        finally:
            _stop(pids)
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        _merge(grades, tmp, codes)
    grades.seconds = time.monotonic() - started
    return grades


def _stop(pids: dict[int, int]) -> None:
    """Stop the workers still running (we were interrupted): SIGINT first, so that pytest stops
    the sandboxes it started (they run in their own process groups), then SIGKILL."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 2.0
    for pid in pids:
        while True:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                break
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
                break
            time.sleep(0.02)


def _merge(grades: Grades, tmp: str, codes: dict[int, int]) -> None:
    try:
        order = {nodeid: i for i, nodeid in enumerate(json.loads(
            Path(tmp, "order.json").read_text()))}
    except (OSError, ValueError):
        order = {}
    for k, code in sorted(codes.items()):
        report = Path(tmp, f"report-{k}.json")
        # pytest: 0 all passed, 1 some failed, 5 nothing collected (a worker with no share).
        if code not in (0, 1, 5) or (code in (0, 1) and not report.exists()):
            log = Path(tmp, f"log-{k}.txt").read_text(errors="replace").strip().splitlines()
            useful = [line for line in log if line.strip() and not line.startswith("=")]
            message = "\n".join(useful[-12:]) or f"pytest ended with status {code}"
            if _relative(message) not in grades.errors:
                grades.errors.append(_relative(message))
            continue
        if not report.exists():
            continue
        data = json.loads(report.read_text())
        for step in data.get("steps", []):
            grade = grades.steps.get(step["number"])
            if grade is None:
                continue
            for c in step["checks"]:
                if c.get("hidden"):
                    continue
                grade.checks.append(Check(nodeid=c["nodeid"], doc=c["doc"], passed=c["passed"],
                                          points=c["points"], max_points=c["max_points"],
                                          reason=_relative(c["reason"]), section=c["section"]))
                grade.points += c["points"]
                grade.max_points += c["max_points"]
    for grade in grades.steps.values():
        grade.checks.sort(key=lambda c: order.get(c.nodeid, len(order)))
        if grade.checks and grade.max_points != grade.step.points and not grade.problem:
            grade.problem = (f"the checks of steps/{grade.step.folder} are worth "
                             f"{grade.max_points} points, not {grade.step.points}: were its "
                             f"test files changed? (git checkout -- steps/{grade.step.folder})")
