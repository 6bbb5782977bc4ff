"""Generate a class of submissions for the graders' tests and benchmark: the reference solutions,
the skeletons, the known-buggy variants of ``tests/bugs``, and submissions that misbehave (hang,
crash the grading run, leave a mount behind, fork a daemon, write outside their folder, do not
parse), in the layouts learners hand in (a copy of the kit, a zip, loose files).

``make_class(root, size)`` writes ``root/<student>/`` (or ``.zip``) and returns, for each student,
what the gradebook must say (``Expect``); ``None`` in a step means "ask the plugin directly"
(``oracle``), for the known bugs, whose lost points depend on several checks.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from mountlab import registry
from tests import skeletons
from tests.bugs import Bug, all_bugs

ROOT = registry.KIT_ROOT
STEPS = registry.steps()
# Tampering target for the "writes outside its folder" submission: one of the kit's checks.
TAMPER = ROOT / "steps" / "05" / "test_volume_spec.py"


# A known bug may write outside the submission's folder (os.path.join(rootfs, "/x") is "/x"):
# the jail refuses it and the status says so.
BUG_STATUSES = ("ok", "error: tried to write outside its folder")


@dataclass
class Expect:
    steps: list[int | None]  # points per step, instructor-only checks included; None: oracle
    status: str | tuple[str, ...] = "ok"  # "ok", "timeout", or the start of "error: ..."
    oracle: Path | None = None  # the implementation folder to grade directly for the None steps
    notes: list[str] = field(default_factory=list)


def full() -> list[int]:
    """Each step's points with the instructor-only checks (what the reference earns)."""
    return [s.points + hidden_points(s.number) for s in STEPS]


def hidden_points(number: int) -> int:
    """The instructor-only points of a step, read from instructor/NN/ (without running it)."""
    import ast

    total = 0
    for path in (ROOT / "instructor" / f"{number:02d}").glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "points" and \
                    any(k.arg == "hidden" for k in node.keywords):
                total += node.args[0].value
    return total


def _module(impl: str, number: int) -> str:
    s = registry.get(number)
    return (ROOT / impl / s.folder / s.filename).read_text()


def write_impl(folder: Path, sources: dict[int, str]) -> Path:
    """``folder/steps/NN/module.py`` for each step (a copy of the kit, as learners hand in)."""
    for number, text in sources.items():
        s = registry.get(number)
        path = folder / "steps" / s.folder / s.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def reference_sources() -> dict[int, str]:
    return {s.number: _module("solutions", s.number) for s in STEPS}


def skeleton_sources() -> dict[int, str]:
    """The skeletons as shipped (git), not a learner's work begun in this checkout."""
    return {s.number: skeletons.text(s.number) for s in STEPS}


def _with(number: int, text: str) -> dict[int, str]:
    sources = reference_sources()
    sources[number] = text
    return sources


HANG = '''
def mount_volume(source, target, *, read_only=False):
    while True:  # an endless retry loop
        pass
'''

CRASH = '''
import os
import signal


def unmount_volume(target, *, timeout=2.5, lazy=False):
    os.kill(os.getppid(), signal.SIGKILL)  # takes the grading run down with it
'''

LEAK = '''

def _leak(target):
    # Joins the mount namespace of the process that runs the checks and mounts there: a mount
    # left behind outside the check's own namespace.
    import os
    from mountlab import syscalls
    fd = os.open(f"/proc/{os.getppid()}/ns/mnt", os.O_RDONLY)
    syscalls.setns(fd, syscalls.CLONE_NEWNS)
    syscalls.mount("tmpfs", target, "tmpfs", 0, "size=1m")


_reference = setup_volume


def setup_volume(volume_path, container_path):
    _reference(volume_path, container_path)
    if str(volume_path).endswith("/host/a/data") and str(container_path).endswith("/srv/data"):
        _leak(str(container_path))
'''

FORK = '''

import subprocess as _subprocess

_reference = parse_volume_spec


def parse_volume_spec(spec):
    _subprocess.Popen(["sleep", "300"], start_new_session=True)  # a daemon nobody waits for
    return _reference(spec)
'''

WRITE = f'''

_reference = parse_volume_spec


def parse_volume_spec(spec):
    with open({str(TAMPER)!r}, "a") as f:  # tampers with the kit's own checks
        f.write("\\n# pwned\\n")
    return _reference(spec)
'''


def specials() -> list[tuple[str, dict[int, str] | None, Expect, str]]:
    """(student, sources, expected, layout) of the submissions that are not known bugs."""
    f = full()
    return [
        ("reference", reference_sources(), Expect(f), "kit"),
        ("skeleton", skeleton_sources(), Expect([0] * 5), "kit"),
        ("reference-zip", reference_sources(), Expect(f), "zip"),
        ("reference-loose-files", reference_sources(), Expect(f), "loose"),
        ("steps-1-to-3-done", {**skeleton_sources(), **{n: _module("solutions", n)
                                                         for n in (1, 2, 3)}},
         Expect(f[:3] + [0, 0]), "kit"),
        ("hangs", _with(2, HANG), Expect([f[0], 0, 0, 0, 0], "timeout"), "kit"),
        # Learner code runs in a subject process of its own, unprivileged: it can neither kill the
        # grading run nor reach the grader's mount namespace; it only loses its own checks.
        # Its kill(0, SIGKILL) reaches only the subject, pid 1 of its namespace, which ignores
        # it: the function then does nothing, and earns what doing nothing earns.
        ("crashes-the-run", _with(3, CRASH), Expect([f[0], f[1], None, None, None], "ok"), "kit"),
        ("leaves-a-mount", _with(1, _module("solutions", 1) + LEAK),
         Expect([f[0] - 3, *f[1:]], "ok"), "kit"),
        ("not-valid-python", _with(3, _module("solutions", 3).replace("def ", "def def ", 1)),
         Expect([f[0], f[1], 0, None, None], "error: steps/03/unmount_volume.py is not valid "
                "Python"), "kit"),
        ("forks-a-daemon", _with(5, _module("solutions", 5) + FORK),
         Expect([*f[:4], 0], "error: left processes running"), "kit"),
        ("writes-outside", _with(5, _module("solutions", 5) + WRITE),
         Expect([*f[:4], 0], "error: tried to write outside its folder"), "kit"),
        ("empty", {}, Expect([0] * 5, "error: no step file found"), "kit"),
        ("broken-zip", None, Expect([0] * 5, "error: not a readable zip file"), "garbage"),
    ]


def bug_order() -> list[Bug]:
    """The known bugs, one step after the other (1, 2, 3, 4, 5, 1, 2, ...), so that a class of
    any size covers every step."""
    by_step: dict[int, list[Bug]] = {}
    for bug in all_bugs():
        by_step.setdefault(bug.step, []).append(bug)
    order = []
    while any(by_step.values()):
        for number in sorted(by_step):
            if by_step[number]:
                order.append(by_step[number].pop(0))
    return order


def _lay_out(dest: Path, name: str, sources: dict[int, str] | None, layout: str) -> Path:
    if layout == "garbage":
        path = dest / f"{name}.zip"
        path.write_bytes(b"this is not a zip file\n")
        return path
    if layout == "kit":
        (dest / name).mkdir()
        return write_impl(dest / name, sources)
    if layout == "loose":
        folder = dest / name
        folder.mkdir()
        for number, text in sources.items():
            (folder / registry.get(number).filename).write_text(text)
        return folder
    if layout == "zip":  # a zip whose top folder holds a copy of the kit's steps/
        staging = write_impl(dest / f".{name}-staging", sources)
        path = dest / f"{name}.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for file in staging.rglob("*.py"):
                zf.write(file, f"{name}/{file.relative_to(staging)}")
        shutil.rmtree(staging)
        return path
    raise ValueError(layout)


def make_class(dest: Path, size: int = 30, *, hazards: bool = True) -> dict[str, Expect]:
    """Write ``size`` submissions into ``dest``; return what each must get. Without
    ``hazards``, only well-behaved ones (reference, skeleton, known bugs), for the benchmark."""
    dest.mkdir(parents=True, exist_ok=True)
    expected: dict[str, Expect] = {}
    chosen = specials() if hazards else specials()[:2]
    chosen = chosen[:size]
    bugs = bug_order()
    i = 0
    while len(chosen) < size:
        bug = bugs[i % len(bugs)]
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", bug.id).strip("-")  # a folder name
        name = name if i < len(bugs) else f"{name}-{i // len(bugs)}"
        steps: list[int | None] = full()
        steps[bug.step - 1] = None
        for later in range(bug.step, len(STEPS)):  # end-to-end checks use the earlier steps
            steps[later] = None
        chosen.append((name, _with(bug.step, bug.source()), Expect(steps, BUG_STATUSES),
                       "kit"))
        i += 1
    for name, sources, expect, layout in chosen:
        path = _lay_out(dest, name, sources, layout)
        if None in expect.steps:
            expect.oracle = path / "steps"
        expected[name] = expect
    return expected


def oracle(folder: Path, tmp: Path) -> list[int]:
    """The points per step (instructor-only checks included) that the pytest plugin itself gives
    ``folder``: what the grader must agree with. Jailed like the grader's run, so that a bug
    that writes outside its folder (``/x`` for ``rootfs/x``) writes nothing on this machine."""
    import json
    import os
    import subprocess
    import sys

    from mountlab.grading.grader import check_targets

    work = tmp / f"oracle-{folder.parent.name}"
    work.mkdir(parents=True)
    report = work / "report.json"
    env = {k: v for k, v in os.environ.items() if k != "MOUNTLAB_IMPL"}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")  # as the grader
    subprocess.run([sys.executable, "-m", "mountlab.grading.jail", str(work), str(folder), "--",
                    sys.executable, "-m", "pytest", *check_targets(), "--impl", str(folder), "-q",
                    "-p", "no:cacheprovider", "--mountlab-report", str(report),
                    "--basetemp", str(work / "bt")],
                   cwd=ROOT, env=env, capture_output=True, timeout=600)
    data = json.loads(report.read_text())
    points = {s["number"]: s["points"] + s.get("hidden_points", 0) for s in data["steps"]}
    return [points.get(s.number, 0) for s in STEPS]
