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
from mountlab.workshop.ui import tr

#: A shorter per-check limit than pytest's 10 s: an endless loop in the learner's code must not
#: make ``status`` hang for long. Checks that set their own limit keep it.
CHECK_TIMEOUT = 5.0
#: A step with at most this many failing checks has them run again, alone (see ``grade``).
CONFIRM = 3


@dataclass
class Check:
    nodeid: str
    doc: str
    passed: bool
    points: int
    max_points: int
    reason: str
    section: str
    severity: str = "major"  # critical | major | minor (steps.toml)
    why: str = ""  # a critical check: what the bug it catches would do


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
        """The failing check to show first: the gravest, then the first written."""
        from mountlab.grading import severity

        failed = [c for c in self.checks if not c.passed]
        return min(failed, key=lambda c: severity.rank(c.severity)) if failed else None

    def rescore(self) -> None:
        """The step's points from its checks, by the severity rule (as the plugin counts them)."""
        from mountlab.grading import severity

        self.points = severity.score(self.max_points, self.step.points,
                                     [(c.severity, c.max_points) for c in self.checks
                                      if not c.passed])


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


def _worker(args: list[str], shard: _Shard | None, log: str) -> None:
    """In the forked child: run pytest on our share, then leave without cleanup handlers."""
    code = 3
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # third-party plugins: see above
        os.chdir(registry.KIT_ROOT)
        import pytest

        code = int(pytest.main(args, plugins=[shard] if shard else []))
    except BaseException:  # noqa: B036 - whatever happens, the parent must hear of it
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _import_problem(number: int, impl: str, lang: str = "en") -> str:
    """Why step ``number``'s file cannot be used ("" when it imports), found the way a check
    loads it: in an unprivileged subject process (its top-level code is learner code)."""
    from mountlab import impl as impl_mod
    from mountlab import sandbox
    from mountlab.sandbox import check

    before = os.environ.get(impl_mod.ENV)
    os.environ[impl_mod.ENV] = impl
    try:
        check.run(impl_mod.load, {"number": number}, scratch=[], timeout=3.0)
        return ""
    except sandbox.SandboxTimeout:
        s = registry.get(number)
        return tr(lang, f"importing steps/{s.folder}/{s.filename} took more than 3 s: does code "
                        "at the top level of the file run forever?",
                  f"l'import de steps/{s.folder}/{s.filename} a pris plus de 3 s : du code au "
                  "niveau du module tourne-t-il sans fin ?")
    except sandbox.ChildRaised as exc:
        if exc.exc_type == "StepImportError":
            return exc.message
        last = exc.text.splitlines()[-1] if exc.text else exc.exc_type
        return tr(lang, f"the file does not import: {last}",
                  f"le fichier ne s'importe pas : {last}")
    except sandbox.SandboxError:
        return ""  # no namespaces here: the checks will say so
    finally:
        if before is None:
            os.environ.pop(impl_mod.ENV, None)
        else:
            os.environ[impl_mod.ENV] = before


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
            grades.steps[s.number].problem = tr(
                lang, f"the folder steps/{s.folder} is missing: restore it "
                      f"(git checkout -- steps/{s.folder})",
                f"le dossier steps/{s.folder} est absent : restaurez-le "
                f"(git checkout -- steps/{s.folder})")
        elif not any(folder.glob("test_*.py")):
            grades.steps[s.number].problem = tr(
                lang, f"steps/{s.folder} has no checks (test_*.py): restore them "
                      f"(git checkout -- steps/{s.folder})",
                f"steps/{s.folder} n'a plus ses tests (test_*.py) : restaurez-les "
                f"(git checkout -- steps/{s.folder})")
        else:
            targets.append(f"steps/{s.folder}")
    if not impl_mod.folder(impl).is_dir():
        where = _relative(str(impl_mod.folder(impl)))
        grades.errors.append(tr(lang, f"{where}/ is missing: this copy of the kit is incomplete",
                                f"{where}/ est absent : cette copie du kit est incomplète"))
        targets = []
    if not targets:
        grades.seconds = time.monotonic() - started
        return grades

    count = workers or default_workers()
    options = ["-q", "--tb=no", "-rN", "--no-header", "-p", "no:cacheprovider", "--impl", impl,
               "--lang", lang, "--check-timeout", f"{check_timeout:g}"]
    backend = _backend(grades)
    if backend == "uml":
        _grade_in_guest(grades, [*targets, *options], lang)
        grades.seconds = time.monotonic() - started
        return grades
    if backend is None:
        grades.seconds = time.monotonic() - started
        return grades
    with tempfile.TemporaryDirectory(prefix="mountlab-status-") as tmp:
        order_file = os.path.join(tmp, "order.json")
        pids: dict[int, int] = {}
        try:
            for k in range(count):
                pids[_start([*targets, *options], _Shard(k, count, order_file), tmp, k)] = k
            # While the workers grade, check that each step's file imports (in a sandbox).
            for s in wanted:
                graded = grades.steps[s.number]
                if not graded.problem:
                    graded.problem = _relative(_import_problem(s.number, impl, lang))
            codes = _wait(pids)
            results = [r for k, code in sorted(codes.items()) for r in _load(grades, tmp, k, code)]
            _add(grades, results)
            # Confirm, alone, the failures of a step that is nearly done: a check that times
            # something (EBUSY retries, a thousand volumes) may lose to the other workers for the
            # CPU, and "29/30" must not be status's doing. pytest's own run has no such company.
            again = [c.nodeid for g in grades.steps.values() if not g.problem
                     and 0 < len(failed := [c for c in g.checks if not c.passed]) <= CONFIRM
                     for c in failed]
            if again and not grades.errors:
                k = count
                pids = {_start([*again, *options], None, tmp, k): k}
                code = _wait(pids)[k]
                _replace(grades, _load(grades, tmp, k, code))
        finally:
            _stop(pids)
        _finish(grades, tmp, lang)
    grades.seconds = time.monotonic() - started
    return grades


def _backend(grades: Grades) -> str | None:
    """The backend of this run (``MOUNTLAB_BACKEND``, else auto); None, with the reason in
    ``grades.errors``, when none works."""
    from mountlab import backends
    from mountlab.backends import detect

    if backends.in_guest() or not sys.platform.startswith("linux"):
        return "native"
    try:
        return detect.choose(backends.wanted()).name
    except detect.NoBackend as exc:
        grades.errors.append(str(exc))
        return None


def _grade_in_guest(grades: Grades, args: list[str], lang: str) -> None:
    """One pytest run of the steps in a User-Mode Linux guest (a boot costs about a second,
    so no workers: the guest has one CPU)."""
    from mountlab.backends import forward, uml

    with tempfile.TemporaryDirectory(prefix="mountlab-status-") as tmp:
        os.chmod(tmp, 0o755)
        command = [sys.executable, "-m", "pytest", *args, "--mountlab-report",
                   os.path.join(tmp, "report-0.json")]
        with open(os.path.join(tmp, "log-0.txt"), "wb") as log:
            try:
                result = uml.run([command], cwd=str(registry.KIT_ROOT),
                                 env=forward.guest_env({"HOME": "/tmp"}), writable=[tmp],
                                 visible=uml.visible_paths(command, str(registry.KIT_ROOT)),
                                 stdout=log, stderr=log, timeout=600)
                code = result.status
            except (uml.UMLError, OSError, ValueError) as exc:
                log.write(f"the User-Mode Linux guest could not start: {exc}\n".encode())
                code = 3
        _add(grades, _load(grades, tmp, 0, code))
        _finish(grades, tmp, lang)


def _start(args: list[str], shard: _Shard | None, tmp: str, k: int) -> int:
    """Fork worker ``k``: pytest ``args`` on its share, its report and log in ``tmp``."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _worker([*args, "--mountlab-report", os.path.join(tmp, f"report-{k}.json")],
                shard, os.path.join(tmp, f"log-{k}.txt"))
    return pid


def _wait(pids: dict[int, int]) -> dict[int, int]:
    """Wait for every worker; their exit statuses by number. ``pids`` empties as they end."""
    codes = {}
    while pids:
        pid, status = os.wait()
        if pid in pids:
            codes[pids.pop(pid)] = os.waitstatus_to_exitcode(status)
    return codes


def environment_problem(grades: Grades, lang: str = "en") -> str:
    """When this machine cannot run the checks at all (no mount namespace for this user), every
    check fails the same way: say so once, and where to look, instead of 120 points of noise."""
    checks = [c for g in grades.steps.values() for c in g.checks]
    if not checks or any(c.passed for c in checks):
        return ""
    if any("unshare" in c.reason and ("not permitted" in c.reason or "denied" in c.reason)
           for c in checks):
        return tr(lang, "the checks cannot create a mount namespace on this machine (unshare was "
                        "refused): ./workshop doctor says why and how to fix it (often: use sudo)",
                  "les tests ne peuvent pas créer d'espace de noms de montage sur cette machine "
                  "(unshare refusé) : ./workshop doctor dit pourquoi et comment corriger "
                  "(souvent : utiliser sudo)")
    return ""


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


def _load(grades: Grades, tmp: str, k: int, code: int) -> list[tuple[int, Check]]:
    """The checks in worker ``k``'s report; when the run itself failed, its error instead."""
    report = Path(tmp, f"report-{k}.json")
    # pytest: 0 all passed, 1 some failed, 5 nothing collected (a worker with no share).
    if code not in (0, 1, 5) or (code in (0, 1) and not report.exists()):
        log = Path(tmp, f"log-{k}.txt").read_text(errors="replace").strip().splitlines()
        useful = [line for line in log if line.strip() and not line.startswith("=")]
        message = _relative("\n".join(useful[-12:]) or f"pytest ended with status {code}")
        if message not in grades.errors:
            grades.errors.append(message)
        return []
    if not report.exists():
        return []
    found = []
    for step in json.loads(report.read_text()).get("steps", []):
        for c in step["checks"]:
            if not c.get("hidden"):
                found.append((step["number"], Check(
                    nodeid=c["nodeid"], doc=c["doc"], passed=c["passed"], points=c["points"],
                    max_points=c["max_points"], reason=_relative(c["reason"]),
                    section=c["section"], severity=c.get("severity", "major"),
                    why=c.get("why", ""))))
    return found


def _add(grades: Grades, results: list[tuple[int, Check]]) -> None:
    for number, check in results:
        grade = grades.steps.get(number)
        if grade is not None:
            grade.checks.append(check)
            grade.max_points += check.max_points
            grade.rescore()


def _replace(grades: Grades, results: list[tuple[int, Check]]) -> None:
    """The confirming run's result of a check replaces the first one."""
    for number, check in results:
        grade = grades.steps.get(number)
        if grade is None:
            continue
        for i, old in enumerate(grade.checks):
            if old.nodeid == check.nodeid:
                grade.checks[i] = check
                grade.rescore()


def _finish(grades: Grades, tmp: str, lang: str) -> None:
    try:
        order = {nodeid: i for i, nodeid in enumerate(json.loads(
            Path(tmp, "order.json").read_text()))}
    except (OSError, ValueError):
        order = {}
    refused = environment_problem(grades, lang)
    if refused:
        grades.errors.append(refused)
    for grade in grades.steps.values():
        grade.checks.sort(key=lambda c: order.get(c.nodeid, len(order)))
        if grade.checks and grade.max_points != grade.step.points and not grade.problem:
            f = grade.step.folder
            grade.problem = tr(
                lang, f"the checks of steps/{f} are worth {grade.max_points} points, not "
                      f"{grade.step.points}: were its test files changed? (git checkout -- "
                      f"steps/{f})",
                f"les tests de steps/{f} valent {grade.max_points} points, pas "
                f"{grade.step.points} : ses fichiers de test ont-ils changé ? (git checkout -- "
                f"steps/{f})")
