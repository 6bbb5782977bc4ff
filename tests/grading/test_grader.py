"""The grading engine on its own: finding a learner's files, unpacking zips safely, the jail."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mountlab import registry, sandbox
from mountlab.grading import grader, prefork

ROOT = registry.KIT_ROOT


def test_locate_finds_the_modules_in_every_layout(tmp_path):
    kit = tmp_path / "kit"
    (kit / "steps" / "01").mkdir(parents=True)
    (kit / "steps" / "01" / "setup_volume.py").write_text("")
    (kit / "solutions" / "02").mkdir(parents=True)  # never graded in place of the learner's
    (kit / "solutions" / "02" / "mount_volume.py").write_text("")
    (kit / "deep" / "a" / "03").mkdir(parents=True)
    (kit / "deep" / "a" / "03" / "unmount_volume.py").write_text("")
    (kit / "volume_spec.py").write_text("")
    found = grader.locate(kit)
    assert found == {1: kit / "steps/01/setup_volume.py", 3: kit / "deep/a/03/unmount_volume.py",
                     5: kit / "volume_spec.py"}


def test_prepare_copies_modules_and_reports_invalid_python(tmp_path):
    sub = tmp_path / "ana"
    (sub / "steps" / "02").mkdir(parents=True)
    (sub / "steps" / "02" / "mount_volume.py").write_text("def mount_volume(:\n")
    (sub / "steps" / "02" / "helpers.py").write_text("X = 1\n")
    (sub / "steps" / "02" / "test_mount_volume.py").write_text("# the learner's copy\n")
    impl, problems = grader.prepare(sub, tmp_path / "scratch")
    assert sorted(p.name for p in (impl / "02").glob("*.py")) == ["helpers.py", "mount_volume.py"]
    assert problems == ["steps/02/mount_volume.py is not valid Python (line 1: invalid syntax)"]
    # Compiled once here for the subjects (what does not compile is theirs to report).
    assert [p.name.split(".")[0] for p in (impl / "02" / "__pycache__").iterdir()] == ["helpers"]


@pytest.mark.parametrize("member", ["../evil.py", "/abs/evil.py", "a/../../evil.py"])
def test_a_zip_cannot_write_outside_its_folder(tmp_path, member):
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(member, "x")
    with pytest.raises(grader.SubmissionError, match="outside its folder"):
        grader.extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "evil.py").exists()


def test_zip_symlinks_are_left_out(tmp_path):
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("steps/01/setup_volume.py")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/shadow")
    grader.extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "steps" / "01" / "setup_volume.py").exists()


def _remove_mounted(path):
    os.makedirs(path / "m")
    from mountlab import syscalls

    syscalls.mount("tmpfs", str(path / "m"), "tmpfs", 0, "size=1m")
    (path / "m" / "keep").write_text("x")
    try:
        grader.remove_scratch(path)
    except OSError as exc:
        return str(exc), (path / "m" / "keep").exists()
    return "removed", False


def test_remove_scratch_refuses_while_something_is_mounted_below(tmp_path):
    # In a throwaway mount namespace: the tmpfs never reaches this machine's mount table.
    said, kept = sandbox.run(_remove_mounted, tmp_path / "scratch", leaves_mounts=True)
    assert "still mounted, not removed" in said and kept


def jail(tmp_path, script, *extra):
    return subprocess.run([sys.executable, "-m", "mountlab.grading.jail", str(tmp_path), *extra,
                           "--", "bash", "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def test_jail_refuses_writes_outside_its_folders(tmp_path):
    outside = ROOT / "mountlab-jail-probe"
    proc = jail(tmp_path, f"echo x > {tmp_path}/in && echo y > /tmp/scratch-ok && "
                f"echo z > {outside}")
    assert "Read-only file system" in proc.stderr
    assert (tmp_path / "in").read_text() == "x\n" and not outside.exists()
    assert not Path("/tmp/scratch-ok").exists()  # /tmp was a tmpfs of the jail's own


def test_jail_kills_what_is_left_and_keeps_mounts_inside(tmp_path):
    before = Path("/proc/self/mountinfo").read_text()
    proc = jail(tmp_path, f"mkdir {tmp_path}/m && mount -t tmpfs t {tmp_path}/m && "
                "(setsid sleep 300 &) ; echo started")
    assert proc.returncode == 0 and "started" in proc.stdout
    assert "processes still running when the grading ended (killed)" in proc.stderr
    assert Path("/proc/self/mountinfo").read_text() == before


def test_jail_gives_the_checks_a_tmpfs_of_its_own(tmp_path):
    before = Path("/proc/self/mountinfo").read_text()
    (tmp_path / "checks").mkdir()
    proc = jail(tmp_path, f"stat -f -c %T {tmp_path}/checks && touch {tmp_path}/checks/made",
                "--tmpfs", str(tmp_path / "checks"))
    assert proc.returncode == 0 and proc.stdout.split() == ["tmpfs"], proc.stderr
    # Gone with the jail: nothing on the disk, nothing in this machine's mount table.
    assert not (tmp_path / "checks" / "made").exists()
    assert Path("/proc/self/mountinfo").read_text() == before


def test_jail_hides_a_folder(tmp_path):
    proc = jail(tmp_path, f"ls -A {ROOT}", "--hide", str(ROOT))
    # The running Python's own files stay (a virtualenv inside the kit's folder, as in CI).
    own = {p.name for p in ROOT.iterdir() if Path(sys.prefix).resolve().is_relative_to(p)}
    assert proc.returncode == 0 and set(proc.stdout.split()) == own


@pytest.mark.parametrize("forked", [False, True], ids=["program", "prefork"])
def test_hanging_submission_gets_timeout_and_what_it_earned_before(tmp_path, forked):
    sub = tmp_path / "sub"
    for s in registry.steps():
        path = sub / "steps" / s.folder / s.filename
        path.parent.mkdir(parents=True)
        path.write_text((ROOT / "solutions" / s.folder / s.filename).read_text())
    (sub / "steps" / "02" / "mount_volume.py").write_text(
        "def mount_volume(source, target, *, read_only=False):\n    while True:\n        pass\n")
    # grade-class forks each run from a prefork server: the same outcome, the same clean-up.
    server = prefork.start(grader.run_env(), str(ROOT)) if forked else None
    try:
        outcome = grader.grade_submission(sub, timeout=25, workdir=tmp_path, server=server)
    finally:
        if server is not None:
            server.stop()
            assert server.runs == 1
    assert outcome.status == "timeout"
    assert outcome.step_points(1)[0] == outcome.step_points(1)[1]  # step 1 finished in time
    assert outcome.report.get("partial") and outcome.total == outcome.step_points(1)[0]
    assert not list(tmp_path.glob("mountlab-grade-*"))  # its scratch folder is gone


def test_grading_goes_on_when_the_prefork_server_is_gone(tmp_path):
    server = prefork.start(grader.run_env(), str(ROOT))
    server.proc.kill()
    server.proc.wait()
    try:
        outcome = grader.grade_submission(ROOT / "solutions", workdir=tmp_path, server=server)
    finally:
        server.stop()
    assert server.runs == 0  # started as a program instead, with the same result
    assert outcome.status == "ok" and outcome.total == outcome.max_total


def test_the_live_log_keeps_every_whole_line_of_a_run_killed_mid_write(tmp_path):
    from mountlab.grading import livelog

    log = tmp_path / "live.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOUNTLAB_")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "steps/01", "--impl", "solutions",
                           "-p", "mountlab.grading.livelog", "--mountlab-livelog", str(log),
                           "-p", "no:cacheprovider", "-q"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout
    whole = livelog.read(log)
    assert whole["partial"] and whole["points"] == registry.get(1).points
    lines = log.read_bytes().split(b"\n")
    last = json.loads(lines[-2])["check"]
    log.write_bytes(b"\n".join(lines[:-2]) + b"\n" + lines[-2][:40])  # killed mid-line
    cut = livelog.read(log)
    lost = [c for c in cut["steps"][0]["checks"] if c["nodeid"] == last["nodeid"]]
    assert last["points"] > 0 and lost[0]["points"] == 0 and cut["points"] < whole["points"]


def test_grade_cli_writes_every_format(tmp_path, gradescope_validator):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOUNTLAB_")}
    env["GITHUB_OUTPUT"] = str(tmp_path / "github_output")
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "mountlab", "grade", "--student", "solutions",
                           "--format", "github", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(out.read_text())
    assert payload["status"] == "pass" and payload["max_score"] == sum(
        t["score"] for t in payload["tests"])
    assert (tmp_path / "github_output").read_text().startswith("result=")
