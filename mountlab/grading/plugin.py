"""The pytest plugin that turns the checks of ``steps/`` into points.

- ``@pytest.mark.points(n, section="...")`` marks a graded check; it runs in a throwaway child with
  its own mount namespace (``mountlab.sandbox``), with a time limit.
- The host's mount table is compared around every check: a leak fails the check and is detached.
- ``--impl steps|solutions|PATH`` (or ``MOUNTLAB_IMPL``) chooses the code graded.
- The run ends with one line per step and, for each lost check, the reason and the README section.
- ``--mountlab-report FILE`` writes the same as JSON, for graders.
- Each check has a severity in ``steps.toml`` (critical, major, minor): a failed critical check
  costs at least half of its step (``mountlab.grading.severity``), and is listed first.
- ``@pytest.mark.points(n, hidden=True)``: an instructor-only check (``instructor/NN/``). It is left
  out of the step's total that ``steps.toml`` fixes and of the learner's points, and reported apart
  (``hidden_points``) for the graders, who add it.
"""

from __future__ import annotations

import json
import linecache
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path

import pytest

from mountlab import backends, impl, messages, registry, sandbox
from mountlab import lang as language
from mountlab.grading import severity as sev
from mountlab.messages import say

DEFAULT_TIMEOUT = 10.0
#: What loading a step's module says when it cannot (mountlab/impl.py).
IMPORT_ERRORS = ["impl.missing", "impl.does_not_import", "impl.does_not_import_line",
                 "impl.no_function"]


@dataclass
class CheckResult:
    nodeid: str
    name: str
    step: int
    max_points: int
    points: int = 0
    passed: bool = False
    reason: str = ""
    section: str = ""
    doc: str = ""
    duration: float = 0.0
    output: str = ""
    instances: int = 0  # a parametrized check is one check: it passes when all its cases pass
    passed_instances: int = 0
    hidden: bool = False  # instructor-only: counted apart, by the graders only
    severity: str = "major"  # critical | major | minor, from steps.toml
    why: str = ""  # a critical check: what the bug it catches would do, in the run's language


@dataclass
class StepResult:
    number: int
    title: str
    points: int = 0
    max_points: int = 0
    checks: list[CheckResult] = field(default_factory=list)
    hidden_points: int = 0  # instructor-only checks, outside points/max_points
    hidden_max_points: int = 0
    capped: bool = False  # a critical check failed: the step gives at most half its points


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mountlab", "mountlab grading")
    group.addoption("--impl", default=None, metavar="steps|solutions|PATH",
                    help="the code to grade: the learner's steps/ (default), the reference "
                         "solutions/, or a folder holding another copy's steps/ "
                         "(also MOUNTLAB_IMPL)")
    group.addoption("--mountlab-report", default=None, metavar="FILE",
                    help="write the points of this run as JSON to FILE")
    group.addoption("--check-timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                    help="time limit of each graded check unless it sets its own "
                         f"(default {DEFAULT_TIMEOUT:g})")
    group.addoption("--lang", default=None, choices=registry.LANGS,
                    help="language of the titles, reasons and summary (default: "
                         "MOUNTLAB_LANG, then the locale: LC_ALL, LC_MESSAGES, LANG)")


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    from mountlab import vmforward  # standard library only: safe on macOS and Windows

    if vmforward.needs_vm():  # no Linux mount namespaces here: run the same pytest in the VM
        return vmforward.forward(list(config.invocation_params.args),
                                 str(config.invocation_params.dir))
    return None


def _choose_impl(config: pytest.Config) -> str:
    choice = config.getoption("--impl") or os.environ.get(impl.ENV) or "steps"
    if choice not in ("steps", "solutions"):
        path = Path(config.invocation_params.dir, choice).resolve()
        if not path.is_dir():
            raise pytest.UsageError(f"--impl {choice}: no such folder (give steps, solutions, or "
                                    "a folder holding a copy's steps/)")
        choice = str(path)
    folder = impl.folder(choice)
    if not folder.is_dir():
        extra = (" This copy of the kit ships without the reference solutions: the instructor "
                 "keeps them." if choice == "solutions" else "")
        raise pytest.UsageError(f"--impl {choice}: {folder} does not exist.{extra}")
    return choice


def pytest_configure(config: pytest.Config) -> None:
    chosen = _choose_impl(config)
    os.environ[impl.ENV] = chosen  # the checks' children and any subprocess grade the same code
    # The checker processes, where the reasons are worded, are forked: they keep this choice.
    lang = language.use(config.getoption("--lang"))
    config.pluginmanager.register(Grader(config, chosen, lang), "mountlab-grader")


def _points(item: pytest.Item) -> pytest.Mark | None:
    return item.get_closest_marker("points")


class Grader:
    def __init__(self, config: pytest.Config, chosen: str, lang: str) -> None:
        self.config = config
        self.impl = chosen
        self.lang = lang
        self.results: dict[str, CheckResult] = {}
        self.deselected = False
        self.host_before = _host_mounts()

    # -- collection ---------------------------------------------------------------------------

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected = self.deselected or bool(items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # Runs after -k/-m deselection: only the checks that will run are graded.
        for item in session.items:
            mark = _points(item)
            if mark is None:
                continue
            step = registry.for_path(item.path)
            if step is None:
                raise pytest.UsageError(f"{item.nodeid}: a graded check outside steps/NN/")
            if not mark.args or not isinstance(mark.args[0], int) or mark.args[0] <= 0:
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.points needs a positive "
                                        "whole number of points")
            check = check_id(item.nodeid)
            result = self.results.get(check)
            if result is None:
                name = check.rsplit("::", 1)[-1]
                doc = [_title(item, name, self.lang)]
                hidden = bool(mark.kwargs.get("hidden"))
                level = step.severity(name)
                problem = sev.problem(level, mark.args[0], step.points)
                if problem and not (hidden and level is None):  # hidden: major unless listed
                    raise pytest.UsageError(f"{check}: {problem}")
                result = self.results[check] = CheckResult(
                    nodeid=check, name=name, step=step.number,
                    max_points=mark.args[0], section=mark.kwargs.get("section", ""),
                    doc=doc[0] or check, hidden=hidden, severity=level or "major",
                    why=step.why_critical(name, self.lang))
                # JUnit XML carries these as <property> elements; a parametrized check counts
                # once, on its first case.
                item.user_properties.append(("max_score", mark.args[0]))
                item.user_properties.append(("severity", result.severity))
                if result.hidden:
                    item.user_properties.append(("hidden", "true"))
            item.user_properties += [("step", step.number), ("check", check)]
            item.repr_failure = _checks_own_text_first(item.repr_failure)
            result.instances += 1

        narrowed = self.deselected or any("::" in arg for arg in session.config.args)
        totals: dict[int, int] = {}
        for result in self.results.values():
            if result.hidden:  # instructor-only checks come on top of the step's total
                continue
            totals[result.step] = totals.get(result.step, 0) + result.max_points
        for number, total in totals.items():
            expected = registry.get(number).points
            if total > expected or (total < expected and not narrowed):
                raise pytest.UsageError(
                    f"step {number}: its checks are worth {total} points but steps.toml says "
                    f"{expected}; make them agree")

    # -- running ------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        if _points(pyfuncitem) is None:
            return None
        from mountlab.sandbox import check

        limit = pyfuncitem.get_closest_marker("timeout")
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        timeout = limit.args[0] if limit else self.config.getoption("--check-timeout")
        timeout *= backends.time_scale()  # a guest's system calls cost more (checks.seconds)
        # The check's code runs in a checker process, learner code in an unprivileged subject;
        # both see the host's files read-only but for the check's own scratch folder.
        scratch = [str(args["tmp_path"])] if "tmp_path" in args else []
        linecache.getlines(str(pyfuncitem.path))  # its source, for tracebacks, once hidden
        check.run(pyfuncitem.obj, args, scratch=scratch, timeout=timeout,
                  leaves_mounts=pyfuncitem.get_closest_marker("leaves_mounts") is not None)
        return True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        before = _host_mounts()
        try:
            return (yield)
        finally:  # also when the check failed: a leak is detached and named whatever happened
            after = _host_mounts()
            leaked = [after[i] for i in after.keys() - before.keys()]
            if leaked:
                names = _detach(leaked)
                raise sandbox.SandboxError(say("grading.leaked_check", mounts=", ".join(names)))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = yield
        result = self.results.get(check_id(item.nodeid))
        if result is None:
            return report
        if call.excinfo is not None and isinstance(call.excinfo.value, sandbox.SandboxError):
            # Show the child's traceback, as the learner's code raised it, not the plumbing's.
            report.longrepr = call.excinfo.value.text
        if report.when == "call":
            result.duration += report.duration
            result.passed_instances += report.passed
            result.passed = result.passed_instances == result.instances
            result.points = result.max_points if result.passed else 0
        if report.failed and not result.reason:  # the first failing case explains the check
            why = reason(call.excinfo.value, registry.get(result.step))
            if report.when != "call":
                why = say("grading.could_not_run", why=why)
            case = item.nodeid[len(result.nodeid):]
            result.reason = f"{case} {why}" if case else why
            result.output = str(report.longrepr)
        return report

    # -- reporting ----------------------------------------------------------------------------

    def step_results(self) -> list[StepResult]:
        return step_results(self.results.values(), self.lang)

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int) -> None:
        steps = self.step_results()
        if not steps:
            return
        tr = terminalreporter
        tr.section("mountlab", sep="=", bold=True)
        if self.impl != "steps":
            tr.write_line(say("grading.graded_code", impl=self.impl))
        for step in steps:
            full = step.points == step.max_points
            label = say("grading.step_label", number=step.number, title=step.title)
            tr.write_line(say("grading.step_points", label=label, points=step.points,
                              max_points=step.max_points), green=full, red=not full, bold=True)
            if step.capped:
                tr.write_line(sev.capped_line(registry.get(step.number).points, self.lang),
                              red=True)
            if step.hidden_max_points:
                tr.write_line(say("grading.hidden_points", points=step.hidden_points,
                                  max_points=step.hidden_max_points))
            # The gravest first: a critical failure is what the learner must fix before anything.
            for check in sorted(step.checks, key=lambda c: sev.rank(c.severity)):
                if check.passed:
                    continue
                hidden = say("grading.instructor_only") if check.hidden else ""
                mark = sev.mark(self.lang) if check.severity == "critical" else ""
                tr.write_line(f"  ✗ {mark}{check.doc} (-{check.max_points}){hidden}", red=True,
                              bold=bool(mark))
                if check.why:
                    tr.write_line(say("grading.why_critical", why=check.why), red=True)
                if check.reason:
                    tr.write_line(f"      {check.reason}")
                readme = registry.get(step.number).readme(self.lang)
                tr.write_line(say("grading.read", path=readme + (
                    f"#{check.section}" if check.section else "")))
            if not full:
                tr.write_line(say("grading.stuck", number=step.number))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        from mountlab.sandbox import check, zygote

        check.reap(block=True)  # before pytest ends: nothing of the grading outlives the run
        zygote.stop()

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        after = _host_mounts()
        leaked = [after[i] for i in after.keys() - self.host_before.keys()]
        if leaked:
            session.config.get_terminal_writer().line(
                say("grading.leaked_run", mounts=", ".join(_detach(leaked))), red=True)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        path = self.config.getoption("--mountlab-report")
        if path:
            Path(path).write_text(json.dumps(self.report(), indent=2, ensure_ascii=False) + "\n")

    def report(self, outputs: bool = True) -> dict:
        """The points so far, as ``--mountlab-report`` writes them (without the tracebacks when
        not ``outputs``)."""
        return report_of(self.step_results(), self.impl, outputs)


def _checks_own_text_first(repr_failure):
    """A graded check's ``repr_failure``: the text of its checker's failure as it is (what the
    learner reads, in ``makereport``), rather than pytest's rendering of the frames that brought
    it back, which the report never shows. pytest's rendering (the source of each frame) cost
    some 16 ms of CPU per failed check: most of the grading of a submission that fails them all."""

    def first(excinfo: pytest.ExceptionInfo[BaseException], *args, **kwargs):
        if isinstance(excinfo.value, sandbox.SandboxError):
            return excinfo.value.text
        return repr_failure(excinfo, *args, **kwargs)

    return first


def step_results(results: Iterable[CheckResult], lang: str) -> list[StepResult]:
    """The checks' results gathered by step, with each step's points (severity rules applied)."""
    steps: dict[int, StepResult] = {}
    for result in results:
        s = registry.get(result.step)
        step = steps.setdefault(s.number, StepResult(s.number, s.title[lang]))
        step.checks.append(result)
        if result.hidden:  # on top of the step: worth its own points, no severity rule
            step.hidden_points += result.points
            step.hidden_max_points += result.max_points
            continue
        step.max_points += result.max_points
    for step in steps.values():
        failed = [(c.severity, c.max_points) for c in step.checks
                  if not c.passed and not c.hidden]
        step.points = sev.score(step.max_points, registry.get(step.number).points, failed)
        step.capped = step.points < step.max_points - sum(p for _, p in failed)
    return [steps[n] for n in sorted(steps)]


def report_of(steps: list[StepResult], chosen: str, outputs: bool = True) -> dict:
    """The JSON of ``--mountlab-report`` for these steps (``chosen``: the graded code)."""
    plain = [_plain(s, outputs) for s in steps]
    return {
        "impl": chosen,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "points": sum(s["points"] for s in plain),
        "max_points": sum(s["max_points"] for s in plain),
        "hidden_points": sum(s["hidden_points"] for s in plain),
        "hidden_max_points": sum(s["hidden_max_points"] for s in plain),
        "steps": plain,
    }


def plain_check(check: CheckResult, outputs: bool = True) -> dict:
    """``dataclasses.asdict(check)``, a few times faster (its fields are plain values)."""
    plain = {f.name: getattr(check, f.name) for f in fields(CheckResult)}
    if not outputs:
        plain["output"] = ""
    return plain


def _plain(step: StepResult, outputs: bool) -> dict:
    plain = {f.name: getattr(step, f.name) for f in fields(StepResult)}
    plain["checks"] = [plain_check(c, outputs) for c in step.checks]
    return plain


def _title(item: pytest.Item, name: str, lang: str) -> str:
    """What the check verifies, on one line: its title in the ``messages.toml`` beside its file,
    else its docstring's first paragraph (checks written outside the kit's steps)."""
    title = messages.beside(item.path).get(f"{name}.title", lang)
    if title is None:
        title = (getattr(item, "obj", None).__doc__ or "").strip().split("\n\n")[0]
    return " ".join(title.split())


def check_id(nodeid: str) -> str:
    """The node ID without the parametrization: all the cases of a check share it."""
    return nodeid.split("[", 1)[0]


def reason(exc: BaseException, step: registry.Step | None) -> str:
    """One line that tells a learner why a check failed."""
    if isinstance(exc, sandbox.ChildRaised) and exc.from_subject:
        return _raised_by_learner_code(exc, step)
    if isinstance(exc, sandbox.ChildRaised):
        if exc.exc_type == "AssertionError":
            return (exc.message.splitlines() or [say("grading.a_check_failed")])[0]
        if exc.exc_type == "Failed" and "DID NOT RAISE" in exc.text:
            expected = re.search(r"DID NOT RAISE <class '(?:\w+\.)*(\w+)'>", exc.text)
            return say("grading.did_not_raise",
                       expected=expected.group(1) if expected else say("grading.an_error"))
        last = exc.text.splitlines()[-1] if exc.text else exc.exc_type
        where = re.findall(r'File "([^"]+)", line \d+', exc.text)
        if exc.exc_type == "FileNotFoundError" and where and \
                os.path.basename(where[-1]).startswith("test_"):
            return say("grading.file_gone", last=last)
        if "[Errno 30]" in last:
            return say("grading.read_only_host", said=say("grading.raised", error=last))
        return say("grading.raised", error=last)
    if isinstance(exc, sandbox.SandboxError):
        return exc.text.splitlines()[0]
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _raised_by_learner_code(exc: sandbox.ChildRaised, step: registry.Step | None) -> str:
    """The reason when the learner's code raised: its class and the first line of its message,
    always as the code's words (a class named AssertionError is not a check's verdict)."""
    if exc.exc_type == "NotImplementedError":
        # Name the file that raised it: step 5's check may reach step 4's skeleton.
        where = re.findall(r'File "([^"]+)", line \d+', exc.text)
        culprit = _relative(where[-1]) if where else (
            f"steps/{step.folder}/{step.filename}" if step else say("grading.the_step"))
        return say("grading.not_written", path=culprit)
    message = exc.message
    if exc.exc_type == "StepImportError":  # the kit's words, from the learner's process: reword
        message = messages.reword(message, IMPORT_ERRORS)
    first = (message.splitlines() or [""])[0][:300]
    said = say("grading.raised_message", error=exc.exc_type, message=first) if first else \
        say("grading.raised", error=exc.exc_type)
    if "[Errno 30]" in first:
        return say("grading.read_only_host", said=said)
    return said


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(registry.KIT_ROOT))
    except ValueError:
        return path


def _host_mounts() -> dict[int, bytes]:
    """Mount ID -> mountinfo line, for the process running pytest (the host's namespace), of the
    mounts where a check could leave one: below the temporary folders, the kit or /mnt. Mounts
    that other programs make meanwhile (a container engine's) are none of the grading's business
    and are never touched."""
    from mountlab import mountinfo

    global _last_mounts
    tops = [b"/tmp", b"/var/tmp", b"/mnt", os.fsencode(registry.kit_root())]
    with open("/proc/self/mountinfo", "rb") as f:
        raw = f.read()
    if _last_mounts[0] == (raw, tops[-1]):  # read before and after every check: mostly the same
        return dict(_last_mounts[1])
    found = {}
    for line in raw.splitlines():
        mount = mountinfo.parse_line(line)
        point = os.fsencode(mount.mountpoint)
        if any(point == t or point.startswith(t + b"/") for t in tops):
            found[mount.mount_id] = line
    _last_mounts = ((raw, tops[-1]), found)
    return dict(found)


_last_mounts: tuple[tuple[bytes, bytes], dict[int, bytes]] = ((b"", b""), {})


def _detach(lines: list[bytes]) -> list[str]:
    """Detach leaked mounts, deepest first; return their mount points."""
    from mountlab import mountinfo, syscalls

    mounts = sorted((mountinfo.parse_line(line) for line in lines),
                    key=lambda m: m.mountpoint.count("/"), reverse=True)
    for mount in mounts:
        try:
            syscalls.umount2(mount.mountpoint, syscalls.MNT_DETACH)
        except OSError:
            pass
    return sorted(m.mountpoint for m in mounts)
