"""Where the kernel gives no mount privileges at all, the whole grader grades through User-Mode
Linux, with the same points as natively.

Each run here is a process as uid 65534 with no capability, no_new_privs, and a seccomp filter
that refuses mount, umount2, unshare, setns, pivot_root, the new mount API and the namespace
flags of clone (``confine.py``): what Gradescope's Docker container allows, and less. ``auto``
must then find the uml backend by itself.

The known-bug variants are graded natively and in one guest (one boot, one pytest run per
variant), and must get the same points on every check. All of them with MOUNTLAB_SLOW=1 (about
as many minutes as there are variants, on two cores); named on pytest's command line without
it, one variant per step.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from mountlab import registry
from tests.backends.conftest import confined, mount_table
from tests.bugs import all_bugs

SLOW = os.environ.get("MOUNTLAB_SLOW") == "1"


def _bugs():
    bugs = all_bugs()
    if SLOW:
        return bugs
    first = {}
    for bug in bugs:
        first.setdefault(bug.step, bug)
    return list(first.values())


def test_the_confined_process_can_neither_mount_nor_unshare(nobody_kit):
    """The test's own premise: inside, every way to a mount namespace is refused."""
    home = nobody_kit.scratch("premise")
    code = ("import errno, os, ctypes\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "for flags in (0x00020000, 0x10000000 | 0x00020000):\n"
            "    assert libc.unshare(flags) == -1 and ctypes.get_errno() == errno.EPERM\n"
            "assert libc.mount(b'none', b'/', None, 0x40000 | 0x4000, None) == -1\n"
            "print('refused')\n")
    done = confined([nobody_kit.python, "-c", code], env=nobody_kit.env(home), cwd=home)
    assert done.stdout.strip() == "refused", done.stderr
    # And the grader sees it the same way: neither native nor userns works, uml does.
    probe = ("from mountlab.backends import detect\n"
             "print(' '.join(f'{p.name}={p.works}' for p in detect.probe_all()))\n")
    done = confined([nobody_kit.python, "-c", probe], env=nobody_kit.env(home),
                    cwd=nobody_kit.root)
    assert done.stdout.split() == ["native=False", "userns=False", "uml=True"], done.stderr


@pytest.mark.parametrize("impl, full", [("solutions", True), ("steps", False)])
def test_the_whole_grader_grades_through_uml(nobody_kit, impl, full):
    home = nobody_kit.scratch(f"grade-{impl}")
    before = mount_table()
    done = confined([nobody_kit.python, "-m", "mountlab", "grade", "--student", impl,
                     "--format", "json", "--out", str(home / "report.json"), "--timeout", "1200"],
                    env=nobody_kit.env(home), cwd=nobody_kit.root)
    assert mount_table() == before, "the host's mount table changed"
    assert (home / "report.json").exists(), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((home / "report.json").read_text())
    assert report["backend"] == "uml", report["backend"]
    assert report["status"] == "ok", report["status"]
    got = {s["number"]: (s["points"], s["hidden_points"]) for s in report["steps"]}
    want = {s["number"]: (s["max_points"], s["hidden_max_points"]) if full else (0, 0)
            for s in report["steps"]}
    lost = [f"{c['nodeid']}: {c['reason']}" for s in report["steps"] for c in s["checks"]
            if c["passed"] != full]
    assert got == want and len(got) == len(registry.steps()), "\n".join(lost[:10])
    assert "graded on the uml backend" in done.stderr


def _graded(report: Path) -> dict[str, bool]:
    data = json.loads(report.read_text())
    return {c["nodeid"]: c["passed"] for s in data["steps"] for c in s["checks"]}


# known bugs graded through UML: minutes (18 for all of them), past CI's budget
@pytest.mark.slow(ci=False)
def test_known_bugs_get_the_same_points_as_natively(nobody_kit):
    bugs = _bugs()
    work = nobody_kit.scratch("bugs")
    out = nobody_kit.scratch("bugs-out")
    commands, native = [], {}
    for i, bug in enumerate(bugs):
        impl = bug.write(work / f"bug{i}")
        target = f"steps/{registry.get(bug.step).folder}"
        args = ["-m", "pytest", target, "--impl", str(impl), "-q", "-p", "no:cacheprovider",
                "--color=no"]
        report = work / f"native{i}.json"
        subprocess.run([sys.executable, *args, "--mountlab-report", str(report)],
                       cwd=nobody_kit.root, env=nobody_kit.env(work, MOUNTLAB_BACKEND="native"),
                       capture_output=True, timeout=600)
        native[i] = _graded(report)
        commands.append(shlex.join([nobody_kit.python, *args, "--mountlab-report",
                                    str(out / f"uml{i}.json")]) + " >/dev/null")
    subprocess.run(["chmod", "-R", "a+rX", str(work)], check=True)
    # One boot for every variant: the launcher runs a shell that runs one pytest per variant.
    done = confined([nobody_kit.python, "-m", "mountlab.backends.uml", "--writable", str(out),
                     "--visible", str(work), "--timeout", "3000", "--",
                     "sh", "-c", "; ".join(commands)],
                    env=nobody_kit.env(out), cwd=nobody_kit.root, timeout=3100)
    differ = []
    for i, bug in enumerate(bugs):
        report = out / f"uml{i}.json"
        assert report.exists(), f"{bug.id}: no report from the guest\n{done.stderr[-3000:]}"
        uml = _graded(report)
        check = next(n for n in uml if n.endswith("::" + bug.check))
        assert not uml[check], f"{bug.id}: {bug.check} kept its points on uml"
        if uml != native[i]:
            differ.append(f"{bug.id}: " + ", ".join(
                f"{n} native={native[i].get(n)} uml={uml.get(n)}"
                for n in sorted(set(uml) | set(native[i])) if uml.get(n) != native[i].get(n)))
    assert not differ, "\n".join(differ)
