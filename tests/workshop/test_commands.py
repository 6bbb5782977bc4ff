"""``./workshop`` status, hint, reset, solution, doctor and demo, run as a learner runs them, in a
throwaway copy of the kit (output to a pipe: plain text)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from mountlab import mountinfo, registry

from .conftest import Kit, no_traceback

STEPS = registry.steps()


# -- status -------------------------------------------------------------------------------------

def test_status_of_a_new_copy_says_what_to_do_first(kit: Kit):
    proc = kit.run("status")
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for s in STEPS:
        assert s.title["en"] in out and f"0/{s.points}" in out
    assert "0/120 points (0%)" in out
    assert "Next: Step 1 — Create the volume directories" in out
    assert "steps/01/README.md" in out and "steps/01/setup_volume.py" in out
    assert "./workshop watch" in out and "pytest steps/01" in out
    assert "not written yet" in out and "./workshop hint 1" in out
    assert "\x1b" not in out, "no escape codes when the output is not a terminal"


def test_bare_workshop_is_status(kit: Kit):
    proc = kit.run()
    no_traceback(proc)
    assert proc.returncode == 0
    assert "Next: Step 1" in proc.stdout


def test_status_follows_the_learners_progress(kit: Kit):
    kit.solve(1)
    proc = kit.run("status")
    assert proc.returncode == 0
    assert "20/20" in proc.stdout and "✓ done" in proc.stdout
    assert "Next: Step 2 — Bind mount a volume" in proc.stdout
    assert "steps/02/mount_volume.py" in proc.stdout


def test_status_with_the_solutions_as_the_learners_code(kit: Kit):
    proc = kit.run("status", MOUNTLAB_IMPL="solutions")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "120/120 points (100%)" in proc.stdout
    assert "All 5 steps are done" in proc.stdout
    assert "graded code: solutions" in proc.stdout


def test_status_in_french_from_the_locale(kit: Kit):
    proc = kit.run("status", LANG="fr_FR.UTF-8")
    assert "votre progression" in proc.stdout and "Étape 1 — Créer les répertoires" in proc.stdout
    assert "À faire" in proc.stdout
    # LC_ALL wins over LANG, as in every POSIX program.
    proc = kit.run("status", LANG="fr_FR.UTF-8", LC_ALL="C.UTF-8")
    assert "your progress" in proc.stdout
    proc = kit.run("status", "--lang", "fr")
    assert "votre progression" in proc.stdout


def test_status_names_a_file_that_does_not_import(kit: Kit):
    kit.file(1).write_text("def setup_volume(volume_path, container_path:\n    pass\n")
    proc = kit.run("status")
    no_traceback(proc)
    assert proc.returncode == 1
    assert "steps/01/setup_volume.py does not import (line 1): SyntaxError" in proc.stdout
    assert "Fix this first" in proc.stdout and "./workshop reset 1" in proc.stdout


def test_status_names_a_missing_file(kit: Kit):
    kit.file(2).unlink()
    proc = kit.run("status")
    no_traceback(proc)
    assert proc.returncode == 1
    assert "steps/02/mount_volume.py is missing" in proc.stdout
    assert "./workshop reset 2" in proc.stdout


def test_status_names_an_import_error_at_the_top_of_the_file(kit: Kit):
    kit.file(1).write_text("import no_such_module_here\n" + kit.file(1).read_text())
    proc = kit.run("status")
    no_traceback(proc)
    assert proc.returncode == 1
    assert "ModuleNotFoundError" in proc.stdout and "no_such_module_here" in proc.stdout


def test_the_fast_grading_agrees_with_pytest(kit: Kit, tmp_path):
    """status's parallel run gives exactly the points and reasons of ``pytest steps``."""
    kit.solve(1)
    kit.file(3).write_text(kit.file(3).read_text() + "\n")  # still a skeleton
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pytest", "steps", "-q", "-p", "no:cacheprovider",
                    "--mountlab-report", str(report)], cwd=kit.root, env=kit.env(),
                   capture_output=True, timeout=600)
    expected = json.loads(report.read_text())
    script = ("import json; from mountlab.workshop import runner; g = runner.grade(); "
              "print(json.dumps({n: [s.points, [[c.nodeid, c.passed, c.reason] "
              "for c in s.checks]] for n, s in g.steps.items()}))")
    proc = subprocess.run([sys.executable, "-c", script], cwd=kit.root, env=kit.env(),
                          capture_output=True, text=True, timeout=600)
    got = json.loads(proc.stdout)

    def same(reason: str) -> str:  # the checks' scratch folders differ from run to run
        return re.sub(r"pytest-\d+", "pytest-N", reason.replace(str(kit.root) + "/", ""))

    for step in expected["steps"]:
        points, checks = got[str(step["number"])]
        assert points == step["points"], step["title"]
        want = sorted([c["nodeid"], c["passed"], same(c["reason"])] for c in step["checks"])
        assert sorted([nodeid, passed, same(reason)] for nodeid, passed, reason in checks) == want


# -- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["hint", "reset", "solution", "watch"])
@pytest.mark.parametrize("bad", ["0", "6", "x", "-1", "3.5"])
def test_a_bad_step_number_is_a_one_line_error(kit: Kit, command, bad):
    proc = kit.run(command, "--", bad) if bad.startswith("-") else kit.run(command, bad)
    no_traceback(proc)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "the steps are 1 to 5" in errors[0], proc.stderr


@pytest.mark.parametrize("args", [["status"], [], ["watch"], ["hint"], ["reset", "1", "--yes"],
                                  ["solution", "1"], ["doctor"]])
def test_a_missing_steps_folder_is_a_clear_error(kit: Kit, args):
    shutil.rmtree(kit.root / "steps")
    proc = kit.run(*args, input="q\n")
    no_traceback(proc)
    assert proc.returncode != 0
    assert "steps" in proc.stdout + proc.stderr
    assert any(word in proc.stdout + proc.stderr for word in ("missing", "incomplete"))


@pytest.mark.parametrize("args", [["watch", "1"], ["solution", "1"]])
def test_a_file_that_does_not_import_is_shown_without_a_traceback(kit: Kit, args):
    kit.file(1).write_text("raise SystemExit('oops')\n")
    proc = kit.run(*args, input="q\n")
    no_traceback(proc)
    assert "does not import" in proc.stdout + proc.stderr
    if args[0] == "solution":
        assert proc.returncode == 1


# -- hint ---------------------------------------------------------------------------------------

def test_hints_come_one_more_each_time(kit: Kit):
    hints = registry.get(1).hints["en"]
    first = kit.run("hint", "1")
    assert first.returncode == 0
    assert "hint 1 of 4" in first.stdout and hints[0] in first.stdout
    assert hints[1] not in first.stdout
    second = kit.run("hint", "1")
    assert "hint 2 of 4" in second.stdout and hints[0] in second.stdout
    assert hints[1] in second.stdout and hints[2] not in second.stdout
    every = kit.run("hint", "1", "--all")
    assert all(h in every.stdout for h in hints) and "last hint" in every.stdout
    assert "hint 4 of 4" in kit.run("hint", "1").stdout
    assert "hint 1 of 6" in kit.run("hint", "2").stdout, "each step counts apart"
    # kept outside the repository, per copy of the kit
    files = list((kit.state / "mountlab").glob("*/hints.json"))
    assert len(files) == 1 and json.loads(files[0].read_text()) == {"1": 4, "2": 1}
    assert not list(kit.root.rglob("hints.json"))
    kit.run("hint", "1", "--reset")
    assert "hint 1 of 4" in kit.run("hint", "1").stdout


def test_hints_in_french(kit: Kit):
    fr = registry.get(3).hints["fr"]
    proc = kit.run("hint", "3", "--lang", "fr")
    assert "Étape 3 — Démonter sans risque : indice 1 sur" in proc.stdout
    assert fr[0] in proc.stdout
    proc = kit.run("hint", "3", LC_MESSAGES="fr_FR.UTF-8")
    assert fr[1] in proc.stdout


def test_hint_without_a_number_is_for_the_current_step(kit: Kit):
    kit.solve(1)
    proc = kit.run("hint")
    assert proc.returncode == 0
    assert "Step 2 — Bind mount a volume: hint 1" in proc.stdout


# -- reset --------------------------------------------------------------------------------------

def test_reset_restores_the_skeleton_and_keeps_a_backup(kit: Kit):
    kit.git_init()
    skeleton = kit.file(1).read_text()
    kit.solve(1)
    mine = kit.file(1).read_text()
    refused = kit.run("reset", "1")  # no terminal to confirm on
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert kit.file(1).read_text() == mine
    proc = kit.run("reset", "1", "--yes")
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    assert kit.file(1).read_text() == skeleton
    backups = list(kit.file(1).parent.glob("setup_volume.py.bak-*"))
    assert len(backups) == 1 and backups[0].read_text() == mine
    assert backups[0].name in proc.stdout
    again = kit.run("reset", "1", "--yes")
    assert again.returncode == 0 and "already the skeleton" in again.stdout
    assert len(list(kit.file(1).parent.glob("setup_volume.py.bak-*"))) == 1


def test_reset_finds_the_skeleton_behind_the_learners_commits(kit: Kit):
    kit.git_init()
    skeleton = kit.file(4).read_text()
    kit.solve(4)
    kit.git("commit", "-q", "-am", "my step 4")
    kit.file(4).write_text(kit.file(4).read_text() + "# more\n")
    proc = kit.run("reset", "4", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert kit.file(4).read_text() == skeleton


def test_reset_restores_a_deleted_file(kit: Kit):
    kit.git_init()
    skeleton = kit.file(2).read_text()
    kit.file(2).unlink()
    proc = kit.run("reset", "2", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert kit.file(2).read_text() == skeleton


def test_reset_without_git_history_says_what_to_do(kit: Kit):
    kit.solve(1)
    proc = kit.run("reset", "1", "--yes", GIT_CEILING_DIRECTORIES=str(kit.root.parent))
    no_traceback(proc)
    assert proc.returncode == 1
    assert "not a git checkout" in proc.stderr and "fresh copy" in proc.stderr
    assert kit.file(1).read_text() == (kit.root / "solutions/01/setup_volume.py").read_text()


# -- solution -----------------------------------------------------------------------------------

def test_solution_only_once_the_step_is_done(kit: Kit):
    proc = kit.run("solution", "1")
    no_traceback(proc)
    assert proc.returncode == 1
    assert "0/20 points" in proc.stdout and "opens once your own code gets all 20" in proc.stdout
    assert "def _missing_directories" not in proc.stdout
    # MOUNTLAB_IMPL does not open it: it is the learner's own code that counts
    assert kit.run("solution", "1", MOUNTLAB_IMPL="solutions").returncode == 1
    kit.solve(1)
    proc = kit.run("solution", "1")
    assert proc.returncode == 0, proc.stdout
    assert (kit.root / "solutions/01/setup_volume.py").read_text().strip() in proc.stdout


def test_solution_in_a_learner_copy_says_the_instructor_keeps_them(kit: Kit):
    shutil.rmtree(kit.root / "solutions")
    proc = kit.run("solution", "2")
    no_traceback(proc)
    assert proc.returncode == 1
    assert "the instructor keeps" in proc.stderr
    proc = kit.run("solution", "2", "--lang", "fr")
    assert "l'enseignant qui garde" in proc.stderr


# -- doctor -------------------------------------------------------------------------------------

def test_doctor_checks_everything_the_kit_needs(kit: Kit):
    proc = kit.run("doctor")
    no_traceback(proc)
    for what in ("Linux", "Python", "privileges", "mount namespace", "user namespaces",
                 "overlayfs", "busybox image", "findmnt", "fuser", "free disk"):
        assert what in proc.stdout, what
    problems = "✗" in proc.stdout
    assert proc.returncode == (1 if problems else 0)
    if problems:
        assert "To fix:" in proc.stdout


def test_doctor_fails_on_an_old_kernel_and_says_the_fix(monkeypatch):
    from mountlab.workshop import doctor

    monkeypatch.setattr(os, "uname", lambda: os.uname_result(("Linux", "h", "5.4.0-1", "", "")))
    finding = doctor.check_kernel("en")
    assert finding.status == doctor.FAIL and "5.15" in finding.fix and "VM" in finding.fix


def test_doctor_explains_ubuntus_apparmor_restriction(monkeypatch):
    from mountlab.workshop import doctor

    monkeypatch.setattr(doctor, "_sysctl", lambda name: "1" if "apparmor" in name else None)
    fix = doctor._userns_fix("en")
    assert "kernel.apparmor_restrict_unprivileged_userns=0" in fix
    assert "sudo sysctl -w" in fix and "/etc/sysctl.d/" in fix and "sudo ./workshop" in fix
    monkeypatch.setattr(doctor.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(doctor, "_in_sandbox", lambda func: "PermissionError: unshare")
    finding = doctor.check_user_namespaces("en")
    assert finding.status == doctor.FAIL and "apparmor" in finding.fix
    assert doctor.check_mount_namespace("en").status == doctor.FAIL


def test_doctor_says_how_to_build_a_missing_image(monkeypatch, tmp_path):
    from mountlab.workshop import doctor

    monkeypatch.setenv("MOUNTLAB_STATE", str(tmp_path))
    monkeypatch.setattr(doctor.os, "geteuid", lambda: 0)
    finding = doctor.check_busybox_image("en")
    assert finding.status == doctor.WARN  # not the machine's fault: one command builds it
    assert "./container image build busybox" in finding.fix
    assert "installs busybox-static" in finding.fix


def test_doctor_missing_tools(monkeypatch):
    from mountlab.workshop import doctor

    monkeypatch.setattr(doctor.shutil, "which", lambda name, path=None: None)
    finding = doctor.check_tool("no-such-tool", "psmisc", "x", "en")
    assert finding.status == doctor.FAIL
    # the one command that installs it: as root apt-get itself, else with sudo (or su)
    assert finding.fix.endswith("apt-get install -y --no-install-recommends psmisc")
    monkeypatch.setattr(doctor.os, "geteuid", lambda: 1000)
    assert doctor.check_tool("no-such-tool", "psmisc", "x", "en").fix.startswith(("sudo ", "su "))


# -- demo ---------------------------------------------------------------------------------------

def _runtime_ready() -> str:
    if os.geteuid() != 0:
        return "the demo's container needs root here"
    if not (registry.KIT_ROOT / "mountlab/runtime/run.py").is_file():
        return "no runtime in this kit"
    if shutil.which("busybox") is None:
        return "no busybox on this machine"
    return ""


@pytest.mark.skipif(bool(_runtime_ready()), reason=_runtime_ready() or "ready")
def test_demo_narrates_the_scenario_and_leaves_nothing_behind(kit: Kit, tmp_path):
    before = {m.mountpoint for m in mountinfo.read()}
    leftovers = set((tmp_path / "tmp").glob("*")) if (tmp_path / "tmp").exists() else set()
    (tmp_path / "tmp").mkdir(exist_ok=True)
    proc = kit.run("demo", TMPDIR=str(tmp_path / "tmp"), MOUNTLAB_STATE=str(tmp_path / "state"),
                   MOUNTLAB_RUN=str(tmp_path / "run"))
    no_traceback(proc)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for mark in ("1. On the host", "2. A container starts", "3. Inside, cat", "test data",
                 "4. Inside, touch", "5. Back on the host", "newfile.txt"):
        assert mark in out, mark
    assert "./container run -v " in out and ":/container/volume busybox" in out
    assert set((tmp_path / "tmp").glob("*")) == leftovers, "the scratch directory stays"
    assert {m.mountpoint for m in mountinfo.read()} == before


def test_demo_in_a_learner_copy_points_to_mine(kit: Kit):
    shutil.rmtree(kit.root / "solutions")
    proc = kit.run("demo")
    no_traceback(proc)
    assert proc.returncode == 1
    assert "instructor keeps them" in proc.stderr and "./workshop demo --mine" in proc.stderr
