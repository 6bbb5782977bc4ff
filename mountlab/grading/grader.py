"""Grade one submission with the kit's own checks, robustly: the engine under ``./workshop grade``,
``grade-class`` and the Gradescope autograder.

One submission, one jailed pytest run of all five steps (``mountlab.grading.jail``), with a time
limit. The checks always come from this kit (``steps/NN/test_*.py`` and the instructor-only
``instructor/NN/``); only the learner's step modules are taken from the submission, copied into a
scratch folder first, so that grading can change neither the submission nor anything else.

Whatever the submission does (hang, crash the run, fork, leave mounts, write outside its folder,
fail to parse), the result is an ``Outcome`` with a status: ``ok``, ``timeout`` or
``error: <reason>``, and the points that could be established.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from mountlab import fsutil, mountinfo, registry
from mountlab.grading import bytecode, prefork
from mountlab.grading.jail import NOTE
from mountlab.messages import pattern, say
from mountlab.sandbox import contain

DEFAULT_TIMEOUT = 300.0
INSTRUCTOR_DIR = "instructor"  # instructor-only checks: instructor/NN/test_*.py
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "solutions", ".tox",
             ".pytest_cache", ".ruff_cache", ".mypy_cache", "site-packages"}
MAX_FILE = 1 << 20  # a step module larger than 1 MiB is not a learner's work
ZIP_LIMITS = {"files": 5000, "bytes": 100 << 20}
# Refused: the read-only root (EROFS), or a file of the host's that the unprivileged subject
# may not write (EACCES).
_EROFS = re.compile(r"(?:Read-only file system|Permission denied): '([^']+)'"
                    r"|(/[^\s:']+): Read-only file system")
_STRAY = re.compile(pattern("sandbox.stray_processes", "processes"))
_PID = re.compile(r"PID \d+ \((.*?)\)(?:, |$)")
_LEAK = re.compile(pattern("grading.leaked_check", "mounts"))


@dataclass
class Outcome:
    """What grading one submission established."""

    student: str
    status: str = "ok"  # ok | timeout | error: <reason>
    report: dict | None = None  # the plugin's report (``partial`` when salvaged)
    junit: str | None = None  # pytest's JUnit XML, when the run finished
    duration: float = 0.0
    problems: list[str] = field(default_factory=list)
    log: str = ""  # the end of the pytest run's output, for the instructor
    backend: str = ""  # where the checks ran: native, userns or uml (mountlab.backends)

    def step_points(self, number: int) -> tuple[int, int]:
        """(points, max points) of a step, instructor-only checks included."""
        for step in (self.report or {}).get("steps", []):
            if step["number"] == number:
                return (step["points"] + step.get("hidden_points", 0),
                        step["max_points"] + step.get("hidden_max_points", 0))
        return 0, registry.get(number).points

    @property
    def total(self) -> int:
        return sum(self.step_points(s.number)[0] for s in registry.steps())

    @property
    def max_total(self) -> int:
        return sum(self.step_points(s.number)[1] for s in registry.steps())

    def checks(self) -> list[dict]:
        return [c for s in (self.report or {}).get("steps", []) for c in s["checks"]]


class SubmissionError(Exception):
    """The submission cannot be graded at all (bad zip, no step file)."""


# -- preparing a submission -----------------------------------------------------------------------

def student_name(path: Path) -> str:
    return path.name[:-4] if path.suffix.lower() == ".zip" and path.is_file() else path.name


def extract_zip(archive: Path, dest: Path) -> Path:
    """Unpack ``archive`` into ``dest`` refusing what could escape it or fill the disk."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(say("grading.zip_unreadable", error=exc)) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > ZIP_LIMITS["files"]:
            raise SubmissionError(say("grading.zip_too_many", count=len(infos),
                                      limit=ZIP_LIMITS["files"]))
        if sum(i.file_size for i in infos) > ZIP_LIMITS["bytes"]:
            raise SubmissionError(say("grading.zip_too_big"))
        for info in infos:
            name = info.filename.replace("\\", "/")  # some Windows tools write backslashes
            parts = Path(name).parts
            if name.startswith("/") or ".." in parts or ":" in name:
                raise SubmissionError(say("grading.zip_escapes", name=info.filename))
            if stat.S_ISLNK(info.external_attr >> 16):
                continue  # a symlink could point anywhere on the grader's machine
            target = dest.joinpath(*parts)
            if name.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    return dest


def locate(root: Path) -> dict[int, Path]:
    """Each step's module in a submission, wherever the learner put it: ``steps/NN/x.py`` (a copy
    of the kit), ``NN/x.py``, or ``x.py`` at any depth (a zip with a top folder, a Gradescope
    upload of loose files), the shallowest first."""
    found: dict[int, Path] = {}
    wanted = {s.filename: s for s in registry.steps()}
    for s in registry.steps():
        for candidate in (root / "steps" / s.folder / s.filename, root / s.folder / s.filename,
                          root / s.filename):
            if candidate.is_file() and not candidate.is_symlink():
                found[s.number] = candidate
                break
    if len(found) == len(wanted):
        return found
    hits: dict[int, list[Path]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts)
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and depth < 6]
        for name in filenames:
            path = Path(dirpath, name)
            if name in wanted and not path.is_symlink():
                hits.setdefault(wanted[name].number, []).append(path)
    for number, paths in hits.items():
        if number not in found:
            folder = registry.get(number).folder
            found[number] = min(paths, key=lambda p: (p.parent.name != folder, len(p.parts),
                                                      str(p)))
    return found


def prepare(source: Path, scratch: Path) -> tuple[Path, list[str]]:
    """Lay the submission's step modules out in ``scratch/impl/NN/`` (what ``--impl`` takes);
    return that folder and the problems found (files that are not valid Python)."""
    if source.is_file() and source.suffix.lower() == ".zip":
        root = extract_zip(source, scratch / "unpacked")
    elif source.is_dir():
        root = source
    else:
        raise SubmissionError(say("grading.not_folder_nor_zip", source=source))
    found = locate(root)
    if not found:
        names = ", ".join(f"steps/{s.folder}/{s.filename}" for s in registry.steps())
        raise SubmissionError(say("grading.no_step_file", names=names))
    impl = scratch / "impl"
    problems = []
    for number, path in sorted(found.items()):
        s = registry.get(number)
        folder = impl / s.folder
        folder.mkdir(parents=True, exist_ok=True)
        # The module and its sibling helpers; never the learner's own copy of the checks.
        for sibling in sorted(path.parent.glob("*.py")):
            if sibling.name.startswith("test_") or sibling.name == "conftest.py" or \
                    sibling.is_symlink() or not sibling.is_file() or \
                    sibling.stat().st_size > MAX_FILE:
                continue
            if sibling != path and sibling.name in {x.filename for x in registry.steps()}:
                continue
            shutil.copyfile(sibling, folder / sibling.name)
        shown = _shown(path, root)
        if not (folder / s.filename).exists():
            problems.append(say("grading.too_large", path=shown))
            continue
        problem = syntax_problem((folder / s.filename).read_bytes(), shown)
        if problem:
            problems.append(problem)
    _compile(impl)
    return impl, problems


def _compile(impl: Path) -> None:
    """Each copied module's bytecode beside it (``__pycache__``), compiled once here rather
    than in each check's subject (which runs the same interpreter and only reads it). Compiling
    runs nothing of the module; what does not compile is left for its subjects to report."""
    import py_compile

    for module in impl.glob("*/*.py"):
        try:
            # Checked by time and size, what a subject's loader reads (impl._code), even where
            # SOURCE_DATE_EPOCH would make it checked by hash.
            py_compile.compile(str(module), doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
        except (py_compile.PyCompileError, OSError, ValueError):
            pass


def syntax_problem(source: bytes, shown: str) -> str | None:
    """Why ``source`` is not valid Python (parsed, never run), or None."""
    try:
        ast.parse(source, filename=shown)
    except SyntaxError as exc:
        return say("grading.not_python_line", path=shown, line=exc.lineno, error=exc.msg)
    except (ValueError, UnicodeDecodeError) as exc:
        return say("grading.not_python", path=shown, error=exc)
    return None


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


# -- running the checks ---------------------------------------------------------------------------

def check_targets(hidden: bool = True, kit: Path = registry.KIT_ROOT) -> list[str]:
    """The folders of checks to run, relative to the kit, step after step: ``steps/NN`` then,
    for instructors, ``instructor/NN`` (so that a run stopped in step 3 has graded all of
    steps 1 and 2, their instructor-only checks included)."""
    targets = []
    for s in registry.steps():
        for base in ("steps",) + ((INSTRUCTOR_DIR,) if hidden else ()):
            if (kit / base / s.folder).is_dir():
                targets.append(f"{base}/{s.folder}")
    return targets


def pytest_args(impl: Path, out: Path, *, hidden: bool = True, lang: str = "en",
                kit: Path = registry.KIT_ROOT) -> list[str]:
    """pytest's arguments for one grading run (``python -m pytest ARGS``)."""
    return [*check_targets(hidden, kit), "--impl", str(impl),
            "--mountlab-report", str(out / "report.json"),
            "--mountlab-livelog", str(out / "live.json"), "-p", "mountlab.grading.livelog",
            "--junitxml", str(out / "junit.xml"), "-o", "junit_family=xunit2",
            "--basetemp", str(_basetemp(out)), "-p", "no:cacheprovider", "-q",
            "--lang", lang, "--color=no"]


def _basetemp(out: Path) -> Path:
    """Where pytest makes the checks' folders: ``checks/tmp`` beside the run's outputs (the
    grader makes ``checks``: in the jail, a tmpfs of its own)."""
    return out.parent / "checks" / "tmp"


def _host_mounts() -> dict[int, mountinfo.Mount]:
    return {m.mount_id: m for m in mountinfo.read()}


def _detach_under(root: Path, before: dict[int, mountinfo.Mount]) -> list[str]:
    """Detach the host mounts made since ``before`` at or below ``root``; their mount points."""
    from mountlab import syscalls

    new = [m for m in mountinfo.mounts_under(root) if m.mount_id not in before]
    for m in sorted(new, key=lambda m: m.mountpoint.count("/"), reverse=True):
        try:
            syscalls.umount2(m.mountpoint, syscalls.MNT_DETACH)
        except OSError:
            pass
    return sorted(m.mountpoint for m in new)


def remove_scratch(path: Path) -> None:
    """Delete a scratch folder, but never through a mount point: refuse (``OSError``, EBUSY) while
    anything is mounted at or below it (``rmtree`` would delete the files of the mounted source)."""
    # Never resolved first: a symlink swapped in for the folder would be followed to its target.
    if path.is_symlink():
        path.unlink()
        return
    fsutil.remove_tree(path.absolute(), ignore_errors=True)


def _tail(path: Path, limit: int = 20000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def grade_submission(source: Path, *, student: str | None = None,
                     timeout: float = DEFAULT_TIMEOUT, workdir: Path | None = None,
                     hidden: bool = True, lang: str = "en", jail: bool = True,
                     keep: bool = False, backend: str | None = None,
                     server: prefork.Server | None = None) -> Outcome:
    """Grade one submission (a folder holding the learner's ``steps/``, or a ``.zip``), on
    ``backend`` (``auto`` when None: see ``mountlab.backends``); its pytest run forked from
    ``server`` when given (``grade-class``: ``mountlab.grading.prefork``), else started as a
    program."""
    source = Path(source)
    outcome = Outcome(student=student or student_name(source))
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="mountlab-grade-", dir=workdir))
    try:
        _grade_in(source, scratch, outcome, timeout=timeout, hidden=hidden, lang=lang, jail=jail,
                  backend=backend, server=server)
    except SubmissionError as exc:
        outcome.status = f"error: {exc}"
    except Exception as exc:  # the grader's own failure must not stop a class
        outcome.status = "error: " + say("grading.grader_failed",
                                         error=f"{type(exc).__name__}: {exc}")
    finally:
        outcome.duration = time.monotonic() - started
        if not keep:
            try:
                remove_scratch(scratch)
            except OSError as exc:
                outcome.problems.append(str(exc))
                outcome.status = "error: " + "; ".join(outcome.problems)
    return outcome


@functools.cache
def sandbox_problem() -> str | None:
    """Why the checks cannot run on this machine (no mount namespaces), or None. Asked once: a
    machine that cannot would otherwise give every learner zero without saying why."""
    from mountlab import sandbox
    from mountlab.sandbox import check

    try:
        check.run(_nothing, {}, scratch=[], timeout=10)
    except sandbox.SandboxError as exc:
        return ("this machine cannot run the checks (they need user and mount namespaces): "
                + exc.text.strip().splitlines()[-1])
    return None


def _nothing() -> None:
    """A check with nothing to do: proves a checker and a subject can be started here."""


@functools.cache
def choose_backend(wanted: str | None) -> str:
    """The backend to grade on (``mountlab.backends``), asked once per run like
    ``sandbox_problem``; ``SubmissionError`` saying why none works."""
    from mountlab import backends
    from mountlab.backends import detect

    try:
        return detect.choose(backends.wanted(wanted)).name
    except detect.NoBackend as exc:
        raise SubmissionError(str(exc)) from None


def _grade_in(source: Path, scratch: Path, outcome: Outcome, *, timeout: float, hidden: bool,
              lang: str, jail: bool, backend: str | None = None,
              server: prefork.Server | None = None) -> None:
    impl, outcome.problems = prepare(source, scratch)
    outcome.backend = choose_backend(backend)
    problem = None if outcome.backend == "uml" else sandbox_problem()
    if problem:
        raise SubmissionError(problem)
    out = scratch / "out"
    out.mkdir()
    (scratch / "home").mkdir()
    checks = _basetemp(out).parent
    checks.mkdir()
    bytecode.warm(check_targets(hidden))  # before any submission's code runs (once)
    args = pytest_args(impl, out, hidden=hidden, lang=lang)
    command = [sys.executable, "-m", "pytest", *args]
    # The checks' folders (pytest's --basetemp) on a tmpfs of the jail's own, not on disk.
    tmpfs = [] if outcome.backend == "uml" else [str(checks)]
    if jail:
        command = [sys.executable, "-m", "mountlab.grading.jail", str(scratch),
                   *(f for t in tmpfs for f in ("--tmpfs", t)), "--", *command]
    if outcome.backend == "uml":  # the same command, as guest root in a User-Mode Linux guest
        from mountlab.backends import forward

        # The guest runs as another host uid: it may pass through the scratch folder (the
        # copy of the submission in it is read-only to it) and write only the run's outputs.
        scratch.chmod(0o711)
        command = forward.wrap(command, [str(out), str(scratch / "home")], timeout)
    env = run_env()
    env["HOME"] = str(scratch / "home")
    # What learner code must not see besides the kit's tree: where this submission came from
    # (beside it, the other learners'), and the other gradings' scratch folders.
    hide = {str(source.absolute().parent), str(scratch.parent)}
    if os.geteuid() != 0:  # learner code runs as our uid: our home too (HOME is scratch here)
        hide.add(contain.home())
    env[contain.ENV] = ":".join(sorted(hide))
    before = _host_mounts()
    with open(out / "stdout.txt", "wb") as stdout, open(out / "stderr.txt", "wb") as stderr:
        forked = None
        if server is not None and jail and outcome.backend != "uml":
            forked = server.run(args, env=env, cwd=str(registry.KIT_ROOT),
                                writable=[str(scratch)], tmpfs=tmpfs, stdout=stdout.fileno(),
                                stderr=stderr.fileno(), timeout=timeout)
        # Started as a program without a server, or when the server could not start it.
        code, timed_out = forked or _run(command, env, stdout, stderr, timeout)
    if outcome.backend == "uml" and code == forward.TIMED_OUT:
        timed_out = True  # stopped by the guest itself, which brought the live log out first
    leaked = _detach_under(scratch, before)
    outcome.log = _tail(out / "stdout.txt") + _tail(out / "stderr.txt", 4000)
    outcome.report = _load(out / "report.json")
    if outcome.report is not None:
        junit = out / "junit.xml"
        outcome.junit = junit.read_text(errors="replace") if junit.exists() else None
    else:
        from mountlab.grading import livelog  # imports pytest: only when it is needed

        outcome.report = livelog.read(out / "live.json")  # what was earned before the end
    outcome.problems += _problems(outcome, scratch, leaked)
    if timed_out:
        outcome.status = "timeout"
    elif outcome.report is None or outcome.report.get("partial"):
        how = say("grading.killed_by", signal=signal.Signals(code - 128).name) \
            if 128 < code < 160 else say("grading.exit_status", code=code)
        outcome.status = "error: " + say("grading.no_report", how=how)
        if outcome.report is None:  # not even collected: say what pytest said
            errors = [line for line in _tail(out / "stderr.txt", 4000).splitlines()
                      + _tail(out / "stdout.txt", 4000).splitlines()
                      if line.strip() and not line.startswith(NOTE)]
            outcome.status += f": {errors[-1].strip()}" if errors else ""
    elif outcome.problems:
        outcome.status = "error: " + "; ".join(outcome.problems)


def run_env() -> dict[str, str]:
    """The environment of a grading run (``HOME`` and ``MOUNTLAB_HIDE`` are the caller's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOUNTLAB_", "PYTEST_"))}
    # No third-party pytest plugins: they cannot change the grading, and loading them (say
    # hypothesis, installed system-wide) can cost more than a step's checks.
    # The kit first; then where the grader itself found its packages, if PYTHONPATH says.
    path = ":".join(p for p in (str(registry.KIT_ROOT), os.environ.get("PYTHONPATH")) if p)
    env.update(PYTHONDONTWRITEBYTECODE="1", NO_COLOR="1", PYTHONPATH=path,
               PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    return env


def _run(command: list[str], env: dict[str, str], stdout, stderr,
         timeout: float) -> tuple[int, bool]:
    """``command`` as a program: (its exit status, whether it was killed on ``timeout``)."""
    # A session of its own: on timeout one killpg takes the jail and everything under it.
    proc = subprocess.Popen(command, cwd=registry.KIT_ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=stdout, stderr=stderr, start_new_session=True)
    timed_out = False
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _killpg(proc.pid)
        code = proc.wait()
    _killpg(proc.pid)  # anything left in its process group (outside the jail)
    return code, timed_out


def _problems(outcome: Outcome, scratch: Path, leaked: list[str]) -> list[str]:
    problems = []
    if leaked:
        problems.append(say("grading.left_mounts_host", mounts=", ".join(leaked)))
    texts = [outcome.log] + [f"{c.get('reason', '')}\n{c.get('output', '')}"
                             for c in outcome.checks()]
    mounts = sorted({m for t in texts for found in _LEAK.findall(t) for m in found.split(", ")})
    if mounts and not leaked:
        problems.append(say("grading.left_mounts_grader", mounts=", ".join(mounts)))
    outside = sorted({a or b for t in texts for a, b in _EROFS.findall(t)
                      if not mountinfo.within(a or b, str(scratch))})
    if outside:
        problems.append(say("grading.wrote_outside", paths=", ".join(outside[:5])))
    stray = [line.split(": ", 1)[-1] for line in outcome.log.splitlines()
             if line.startswith(NOTE) and "still running" in line]
    # The check's sandbox killed them, but a submission that leaves daemons behind must show.
    stray += [m for t in texts for m in _STRAY.findall(t)]
    commands = [c for text in stray for c in _PID.findall(text)]
    if commands:
        counts = {c: commands.count(c) for c in dict.fromkeys(commands)}
        problems.append(say("grading.left_processes", commands=", ".join(
            f"{c} (x{n})" if n > 1 else c for c, n in counts.items())))
    return problems


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
