"""The sandbox that runs each check: results and errors come back, time limits hold, nothing
mounted inside reaches the host."""

import os
import select
import subprocess
import threading
import time

import pytest

from mountlab import mountinfo, sandbox, syscalls


def _host_table():
    with open("/proc/self/mountinfo", "rb") as f:
        return f.read()


def _mount_here(path):
    syscalls.mount("tmpfs", path, "tmpfs", 0, "size=1m")
    return mountinfo.is_mountpoint(path)


def test_result_comes_back_and_mounts_stay_inside(tmp_path):
    before = _host_table()
    assert sandbox.run(_mount_here, str(tmp_path), leaves_mounts=True) is True
    assert _host_table() == before
    assert not mountinfo.is_mountpoint(tmp_path)


def test_root_is_private_inside():
    def propagation():
        return mountinfo.find("/")[-1].propagation
    assert sandbox.run(propagation) == "private"


def test_a_mount_left_inside_fails_unless_allowed(tmp_path):
    with pytest.raises(sandbox.SandboxError, match="still mounted when the check ended"):
        sandbox.run(_mount_here, str(tmp_path))


def _raise():
    raise FileNotFoundError(2, "No such file or directory", "/missing")


def test_exception_and_traceback_come_back():
    with pytest.raises(sandbox.ChildRaised) as raised:
        sandbox.run(_raise)
    assert raised.value.exc_type == "FileNotFoundError"
    # Data only (JSON), never the exception object itself.
    assert raised.value.message == "[Errno 2] No such file or directory: '/missing'"
    assert "in _raise" in raised.value.text and "'/missing'" in raised.value.text
    assert "mountlab/sandbox/" not in raised.value.text


def test_a_hang_is_stopped_at_the_time_limit():
    start = time.monotonic()
    with pytest.raises(sandbox.SandboxTimeout, match="did not finish within 0.3 s"):
        sandbox.run(time.sleep, 60, timeout=0.3)
    assert time.monotonic() - start < 2


def _fork_and_return():
    subprocess.Popen(["sleep", "30"])


def _orphan_and_return():
    subprocess.run(["sh", "-c", "sleep 30 &"], check=True)  # its parent gone: pid 1's child


def _fork_from_a_thread():
    thread = threading.Thread(target=_fork_and_return)  # the child of a thread that ends
    thread.start()
    thread.join()


@pytest.mark.parametrize("leave", [_fork_and_return, _orphan_and_return, _fork_from_a_thread],
                         ids=["child", "orphan", "thread's-child"])
def test_a_process_left_running_fails_and_is_killed(leave):
    with pytest.raises(sandbox.SandboxError, match="still running at its end") as raised:
        sandbox.run(leave)
    pid = int(raised.value.text.split("PID ")[1].split()[0])
    time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_exiting_the_process_is_reported():
    with pytest.raises(sandbox.SandboxError, match="ended without an answer"):
        sandbox.run(os._exit, 3)


def test_sys_exit_comes_back_as_an_exception():
    with pytest.raises(sandbox.ChildRaised) as raised:
        sandbox.run(exit, 4)
    assert raised.value.exc_type == "SystemExit"


def _write_both(inside, outside):
    with open(inside, "w") as f:
        f.write("fine")
    try:
        os.mkdir(outside)
    except OSError as exc:
        return exc.errno
    os.rmdir(outside)
    return 0


def test_the_host_root_is_read_only_but_for_the_writable_folders(tmp_path):
    import errno

    outside = "/mountlab-sandbox-probe"
    assert sandbox.run(_write_both, str(tmp_path / "f"), outside,
                       writable=[str(tmp_path)]) == errno.EROFS
    assert (tmp_path / "f").read_text() == "fine"
    assert not os.path.exists(outside)


def _asks_learner_code(tmp_path):
    from mountlab.impl import step

    assert step(1).setup_volume(str(tmp_path / "v"), str(tmp_path / "c")) == ["1000", "1000"]


def _learner_step_1(tmp_path, monkeypatch, source: str) -> None:
    """``source`` as the graded step 1 (``tmp_path/impl/01/setup_volume.py``)."""
    folder = tmp_path / "impl" / "01"
    folder.mkdir(parents=True)
    (folder / "setup_volume.py").write_text(source)
    monkeypatch.setenv("MOUNTLAB_IMPL", str(tmp_path / "impl"))


def test_learner_code_has_no_network(tmp_path, monkeypatch):
    """A subject runs in a network namespace that is not the host's, with no device but its
    loopback: learner code cannot reach the network, nor the host's sockets bound to it."""
    from mountlab.sandbox import check

    _learner_step_1(tmp_path, monkeypatch,
                    "import os\nimport socket\n\n\n"
                    "def setup_volume(volume_path, container_path):\n"
                    "    return [os.stat('/proc/self/ns/net').st_ino,\n"
                    "            [name for _, name in socket.if_nameindex()]]\n")
    host = os.stat("/proc/self/ns/net").st_ino
    check.run(_asks_network, {"tmp_path": tmp_path, "host": host}, scratch=[str(tmp_path)],
              timeout=20)


def _checks(func, tmp_path, *, times: int) -> None:
    """The check ``func(tmp_path)``, graded ``times`` in a row, each with a subject of its own."""
    from mountlab.sandbox import check

    for _ in range(times):
        check.run(func, {"tmp_path": tmp_path}, scratch=[str(tmp_path)], timeout=20)


def _asks_network(tmp_path, host):
    from mountlab.impl import step

    namespace, devices = step(1).setup_volume(str(tmp_path / "v"), str(tmp_path / "c"))
    assert namespace != host and devices == ["lo"]


def test_learner_code_is_first_to_go_when_memory_runs_out(tmp_path, monkeypatch):
    """When the machine (or a User-Mode Linux guest) runs out of memory, the kernel ends learner
    code before any process of the grader: a subject's oom_score_adj is the highest, 1000, and
    what it starts inherits it (lowering it needs a privilege the subject does not have)."""
    from mountlab.sandbox import check

    _learner_step_1(
        tmp_path, monkeypatch,
        "import subprocess\n\n\n"
        "def setup_volume(volume_path, container_path):\n"
        "    started = subprocess.run(['cat', '/proc/self/oom_score_adj'], capture_output=True,\n"
        "                             text=True).stdout.strip()\n"
        "    try:\n"
        "        with open('/proc/self/oom_score_adj', 'w') as f:\n"
        "            f.write('-1000')\n"
        "    except OSError:\n"
        "        pass\n"
        "    with open('/proc/self/oom_score_adj') as f:\n"
        "        return [f.read().strip(), started]\n")
    check.run(_asks_learner_code, {"tmp_path": tmp_path}, scratch=[str(tmp_path)], timeout=20)


def test_each_check_has_a_pid_namespace_of_its_own(tmp_path, monkeypatch):
    """Learner code is pid 1 of a pid namespace made for its check: it sees no process but its
    own (not the process that started it, not the last check's subject), check after check."""
    _learner_step_1(tmp_path, monkeypatch,
                    "import os\n\n\n"
                    "def setup_volume(volume_path, container_path):\n"
                    "    seen = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
                    "    return [os.getpid(), seen]\n")
    _checks(_asks_pid_namespace, tmp_path, times=3)


def _asks_pid_namespace(tmp_path):
    from mountlab.impl import step

    assert step(1).setup_volume(str(tmp_path / "v"), str(tmp_path / "c")) == [1, [1]]


def test_each_check_has_temporary_folders_of_its_own(tmp_path, monkeypatch):
    """What learner code leaves in /tmp, /var/tmp or /dev/shm, the next check's never sees; the
    check's own folder (under /tmp here) is still there and writable. (/var/tmp and /dev/shm are
    covered for the checkers already, and /tmp where they hold no scratch folder.)"""
    _learner_step_1(tmp_path, monkeypatch,
                    "import os\n\n\n"
                    "def setup_volume(volume_path, container_path):\n"
                    "    seen = []\n"
                    "    for top in ('/tmp', '/var/tmp', '/dev/shm'):\n"
                    "        seen += [f'{top}/{n}' for n in os.listdir(top) if 'left' in n]\n"
                    "        open(f'{top}/left-by-a-check', 'w').close()\n"
                    "    open(os.path.join(volume_path, 'written'), 'w').close()\n"
                    "    return seen\n")
    _checks(_finds_nothing_left, tmp_path, times=2)


def _finds_nothing_left(tmp_path):
    from mountlab.impl import step

    (tmp_path / "v").mkdir(exist_ok=True)
    assert step(1).setup_volume(str(tmp_path / "v"), str(tmp_path / "c")) == []
    assert (tmp_path / "v" / "written").exists()


def test_both_ways_of_finding_a_namespaces_processes_see_a_child(monkeypatch):
    from mountlab.sandbox import observe

    if not os.path.exists(f"/proc/self/task/{os.getpid()}/children"):
        pytest.skip("this kernel keeps no /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN)")
    child = subprocess.Popen(["sleep", "30"])
    pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY)
    try:
        found = {}
        for walk in (True, False):  # the children files, and the scan of every process
            monkeypatch.setattr(observe, "_children_files", walk)
            found[walk] = observe.processes_in(pid_ns, {os.getpid()}, os.getpid())
        assert f"PID {child.pid} (sleep 30)" in found[True]
        assert set(found[True]) <= set(found[False])  # ours only, where the scan sees all
    finally:
        os.close(pid_ns)
        child.kill()
        child.wait()


_STEP_4_THROUGH_THE_DOUBLES = """import os

from mountlab.impl import step


def resolve_target(rootfs, container_path):
    raise NotImplementedError


def teardown_container_volumes(mounted):
    raise NotImplementedError


def setup_container_volumes(rootfs, volumes):
    source, target = volumes
    step(1).setup_volume(source, target)
    step(2).mount_volume(source, target)
    return [type(step(2)).__name__, os.getpid()]
"""


@pytest.mark.parametrize("in_subject", [True, False], ids=["in-subject", "in-checker"])
def test_the_doubles_run_where_the_check_says(tmp_path, monkeypatch, in_subject):
    """Steps 1-3's doubles, reached from learner code: with ``doubles.in_subject`` the subject
    runs them itself (no call crosses to the checker); installed as ``Steps123`` they run in the
    checker, which records each call. Either way their mount is real, seen from the checker."""
    from mountlab.sandbox import check

    folder = tmp_path / "impl" / "04"
    folder.mkdir(parents=True)
    (folder / "container_volumes.py").write_text(_STEP_4_THROUGH_THE_DOUBLES)
    monkeypatch.setenv("MOUNTLAB_IMPL", str(tmp_path / "impl"))
    check.run(_mounts_through_the_doubles, {"tmp_path": tmp_path, "in_subject": in_subject},
              scratch=[str(tmp_path)], timeout=20, leaves_mounts=True)


def _mounts_through_the_doubles(tmp_path, in_subject):
    from mountlab.grading import doubles
    from mountlab.grading.checks import mount_count
    from mountlab.impl import step

    source, target = str(tmp_path / "v"), str(tmp_path / "c")
    steps = doubles.Steps123()
    with doubles.in_subject() if in_subject else steps.installed():
        kind, pid = step(4).setup_container_volumes(str(tmp_path), [source, target])
    assert (kind, pid) == (("SimpleNamespace", 1) if in_subject else ("_Remote", 1))
    assert steps.mounted() == ([] if in_subject else [target])
    assert mount_count(target) == 1


def test_a_check_after_its_nursery_has_gone_gets_another(tmp_path, monkeypatch):
    """The nursery that forks a run's subjects killed between two checks (the OOM killer, say):
    the next check finds its checker's link to it broken and links to another, which the zygote
    starts; the checks go on, each in a pid namespace of its own."""
    from mountlab.sandbox import zygote

    _learner_step_1(tmp_path, monkeypatch,
                    "import os\n\n\n"
                    "def setup_volume(volume_path, container_path):\n"
                    "    seen = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
                    "    return [os.getpid(), seen]\n")
    _checks(_asks_pid_namespace, tmp_path, times=1)
    # The zygote's children are the nurseries' go-betweens; their children, the nurseries.
    nurseries = [n for between in _children(zygote._pid) for n in _children(between)]
    assert nurseries, "no nursery found below the zygote"
    for pid in nurseries:
        pidfd = os.pidfd_open(pid)
        os.kill(pid, 9)
        select.select([pidfd], [], [], 10)  # gone, its sockets closed, before the next check
        os.close(pidfd)
    _checks(_asks_pid_namespace, tmp_path, times=2)


def _children(pid: int) -> list[int]:
    found = []
    for children in os.scandir(f"/proc/{pid}/task"):
        with open(f"{children.path}/children") as f:
            found += [int(p) for p in f.read().split()]
    return found
