"""The User-Mode Linux launcher and the backend choice, each observed from the host."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from mountlab import registry
from mountlab.backends import guest_init, uml
from tests import processes
from tests.backends.conftest import NOBODY, confined, mount_table, need


@pytest.fixture
def outputs():
    need(uml.binary() is not None, "linux.uml is not installed (apt-get install user-mode-linux)")
    folder = Path(tempfile.mkdtemp(prefix="mountlab-uml-test-"))
    yield folder
    subprocess.run(["rm", "-rf", "--one-file-system", str(folder)], check=True)


def _run(script: str, outputs: Path, timeout: float = 60) -> tuple[uml.GuestResult, str, str]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        result = uml.run([["sh", "-c", script]], cwd="/", env={"LANG": "C"},
                         writable=[str(outputs)], timeout=timeout, stdout=out, stderr=err)
        out.seek(0)
        err.seek(0)
        return result, out.read().decode(), err.read().decode()


def test_a_guest_runs_as_root_on_a_read_only_host_and_gives_back_only_its_outputs(outputs):
    before = mount_table()
    script = (f"id -u; echo err >&2; touch /etc/mountlab-guest 2>/dev/null || echo erofs; "
              f"echo data > {outputs}/made; ls /sys/class/net; "
              f"mount --bind /tmp /mnt && echo mounted; cat /proc/sys/kernel/pid_max; exit 7")
    result, out, err = _run(script, outputs)
    assert result.statuses == [7] and result.status == 7
    # pid_max: a sweep of every possible pid with kill(2) stays short in a guest.
    assert out.split() == ["0", "erofs", "lo", "mounted", str(guest_init.PID_MAX)], out + result.log
    assert err == "err\n"
    assert not os.path.exists("/etc/mountlab-guest")
    made = outputs / "made"
    assert made.read_text() == "data\n"
    # Written on the host by the guest's host uid, never by root.
    expected = NOBODY if os.geteuid() == 0 else os.geteuid()
    assert made.stat().st_uid == expected
    assert mount_table() == before
    assert 0 < result.boot_s < result.total_s


def test_the_time_limit_holds_and_a_process_left_behind_writes_nothing(outputs):
    script = (f"(sleep 3; echo late > {outputs}/late) & "
              "exec sleep 100")
    result, _, _ = _run(script, outputs, timeout=2)
    assert result.statuses == [124]  # timeout(1)'s status
    assert result.total_s < 30
    assert not (outputs / "late").exists()


def test_a_folder_out_of_the_guest_uids_reach_is_handed_to_it_alone(outputs):
    """Root's clone of the kit sits in a folder uid 65534 may not pass through: the guest gets
    the folders it is handed, and nothing else of that folder."""
    need(os.geteuid() == 0, "needs root: the guest then runs as uid 65534")
    closed = Path(tempfile.mkdtemp(prefix="mountlab-closed-"))  # mode 0700
    try:
        kit = closed / "kit"
        kit.mkdir(mode=0o755)
        (kit / "f").write_text("seen\n")
        (closed / "secret").write_text("no\n")
        premise = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                                  "--clear-groups", "cat", str(kit / "f")], capture_output=True)
        assert premise.returncode != 0, "uid 65534 reaches the folder: the test proves nothing"
        with tempfile.TemporaryFile() as out:
            result = uml.run([["sh", "-c", f"cat {kit}/f; cat {closed}/secret || echo hidden; "
                               f"ls {closed}"]], cwd=str(kit), env={"LANG": "C"},
                             visible=[str(kit)], timeout=60, stdout=out,
                             stderr=subprocess.DEVNULL)
            out.seek(0)
            assert out.read().decode().split() == ["seen", "hidden", "kit"], result.log
        assert result.status == 0
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(closed)], check=True)


def test_pytest_forwards_into_a_guest_and_brings_its_report_back(outputs):
    report = outputs / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "steps/05/test_volume_spec.py", "-k",
         "test_bind_mount or test_named_volume", "--impl", "solutions", "--backend", "uml",
         "--mountlab-report", str(report)],
        cwd=registry.KIT_ROOT, capture_output=True, text=True, timeout=600)
    assert "mountlab backend: uml (a User-Mode Linux guest" in done.stdout, done.stdout
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    data = json.loads(report.read_text())
    assert [c["passed"] for s in data["steps"] for c in s["checks"]] == [True, True]


def test_no_backend_is_a_clear_error_naming_each_and_the_fix(nobody_kit):
    home = nobody_kit.scratch("no-backend")
    env = nobody_kit.env(home, MOUNTLAB_UML="/nonexistent/linux.uml")
    done = confined([nobody_kit.python, "-m", "pytest", "steps/01", "-q"], env=env,
                    cwd=nobody_kit.root)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "mountlab: no backend can run the checks on this machine:"
    assert [line.split(":")[0].strip() for line in lines[1:4]] == ["- native", "- userns",
                                                                   "- uml"]
    assert lines[-1] == "Fix: sudo apt-get install user-mode-linux"
    graded = confined([nobody_kit.python, "-m", "mountlab", "grade", "--student", "solutions",
                       "--format", "json"], env=env, cwd=nobody_kit.root)
    status = json.loads(graded.stdout)["status"]
    assert status.startswith("error: no backend can run the checks"), status
    assert "apt-get install user-mode-linux" in status and "Traceback" not in graded.stderr


def test_the_xstate_filter_refuses_only_the_xstate_requests():
    import platform

    code = (
        "import ctypes, errno, os, sys\n"
        "sys.path.insert(0, os.getcwd())\n"
        "from mountlab.backends import xstate\n"
        "xstate.install()\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "buf = ctypes.create_string_buffer(4096)\n"
        "iov = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 4096)\n"
        "pid = os.getpid()\n"
        "for request, note in ((0x4204, 0x202), (0x4205, 0x202), (0x4204, 1)):\n"
        "    r = libc.ptrace(ctypes.c_long(request), pid, ctypes.c_void_p(note), iov)\n"
        "    print(request, note, ctypes.get_errno() if r == -1 else 0)\n")
    if platform.machine() != "x86_64":
        pytest.skip("the filter is for x86-64")
    done = subprocess.run([sys.executable, "-c", code], cwd=registry.KIT_ROOT,
                          capture_output=True, text=True, timeout=30)
    lines = [line.split() for line in done.stdout.splitlines()]
    # Our own pid is not traced: the kernel says ESRCH, unless the filter answers first (EIO).
    assert lines == [["16900", "514", "5"], ["16901", "514", "5"], ["16900", "1", "3"]], \
        done.stdout + done.stderr


def test_a_guest_killed_at_the_launchers_limit_leaves_no_process(outputs, monkeypatch):
    """Past its time limit the launcher kills the guest: linux.uml and its helper processes,
    which a killed linux.uml leaves behind, asleep, for good."""
    top = Path(tempfile.mkdtemp(prefix="mountlab-uml-limit-"))
    top.chmod(0o755)  # the guest's uid passes through it to its job folder
    monkeypatch.setattr(tempfile, "tempdir", str(top))
    monkeypatch.setattr(uml, "MARGIN", -95.0)  # the launcher's limit (5 s) before the guest's
    try:
        result, _, _ = _run("exec sleep 100", outputs, timeout=100)
        assert result.timed_out
        assert _left_after_kill(str(top)) == []
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(top)], check=True)


def test_a_guest_killed_by_another_hand_leaves_no_process(outputs, monkeypatch):
    """linux.uml killed by something else than the launcher (the OOM killer, ``kill -9``): its
    helper processes, which it leaves behind asleep for good, go with it all the same."""
    top = Path(tempfile.mkdtemp(prefix="mountlab-uml-killed-"))
    top.chmod(0o755)  # the guest's uid passes through it to its job folder
    monkeypatch.setattr(tempfile, "tempdir", str(top))
    ran: list[uml.GuestResult] = []
    try:
        runner = threading.Thread(target=lambda: ran.append(_run("exec sleep 100", outputs)[0]))
        runner.start()
        main = None
        for _ in range(300):  # linux.uml, our child, once its helpers have started too
            main = _our_child_naming(str(top))
            if main and len(processes.naming(str(top))) > 1:
                break
            time.sleep(0.1)
        assert main, "the guest did not start"
        os.kill(main, signal.SIGKILL)
        runner.join(timeout=30)
        assert ran and not ran[0].timed_out and ran[0].status != 0
        assert _left_after_kill(str(top)) == []
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(top)], check=True)


def _left_after_kill(text: str) -> list[str]:
    """The processes naming ``text`` still there 5 s after the launcher killed them: a process
    sent SIGKILL is gone a moment later, not at once."""
    left = processes.naming(text)
    for _ in range(50):
        if not left:
            break
        time.sleep(0.1)
        left = processes.naming(text)
    return left


def _our_child_naming(text: str) -> int | None:
    """The pid of a child of this process whose command line contains ``text``."""
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                if text in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    return int(pid)
            except OSError:  # gone meanwhile
                continue
    return None
