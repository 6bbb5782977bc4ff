"""``./container run``, ``ps``, ``inspect``, ``exec`` end to end, with the reference solutions
(``MOUNTLAB_IMPL=solutions``) and a busybox image, as a learner runs them.

Every test compares the host's mount table before and after: the runtime mounts only inside the
container's private mount namespace, so nothing may ever appear on the host, not even when the
runtime is killed. State lives in throw-away directories (MOUNTLAB_STATE, MOUNTLAB_RUN).
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.runtime.runtime_helpers import (
    ROOT,
    Runtime,
    build_busybox_rootfs,
    children,
    gone,
    host_mounts,
    impl_folder,
    tree,
    wait_for,
)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the runtime tests run as root"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"),
                       reason="needs /bin/busybox: apt-get install busybox-static"),
]

SCENARIO = "cat /container/volume/test.txt; touch /container/volume/newfile.txt"


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory) -> Path:
    """One state directory for the session, holding the busybox image (built once)."""
    state = tmp_path_factory.mktemp("state")
    try:  # the image as ./container image build busybox makes it, when that command exists
        from mountlab.runtime import images
    except ImportError:
        build_busybox_rootfs(state / "images" / "busybox" / "rootfs")
        return state
    proc = Runtime(state, state / "unused-run")("image", "build", "busybox")
    assert proc.returncode == 0, proc.stderr
    assert images.find_busybox()
    return state


@pytest.fixture
def rt(state_dir, tmp_path) -> Runtime:
    """The runtime with this test's own run directory; checks the host's mount table is the same
    afterwards and that no container is left behind."""
    before = host_mounts()
    runtime = Runtime(state_dir, tmp_path / "run")
    yield runtime
    assert runtime.live() == [], "a container outlived its test"
    assert host_mounts() == before, "the host's mount table changed"


@pytest.fixture
def host(tmp_path) -> Path:
    """The source exercise's host volume: a directory holding test.txt."""
    path = tmp_path / "host" / "volume"
    path.mkdir(parents=True)
    (path / "test.txt").write_text("test data\n")
    return path


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"want one line of error, got: {proc.stderr!r}"
    assert lines[0].startswith("container: error: "), lines[0]
    return lines[0]


# --------------------------------------------------------------------------------------------
# the source exercise


def test_source_exercise_scenario_verbatim(rt, host):
    proc = rt("run", "-v", f"{host}:/container/volume", "busybox", "/bin/sh", "-c", SCENARIO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "test data\n"
    assert (host / "newfile.txt").is_file()
    assert (host / "test.txt").read_text() == "test data\n"


def test_v_creates_a_missing_host_directory_through_step_1(rt, tmp_path):
    missing = tmp_path / "new" / "volume"
    proc = rt("run", "--rm", "-v", f"{missing}:/data", "busybox", "/bin/sh", "-c",
              "echo made inside > /data/note")
    assert proc.returncode == 0, proc.stderr
    assert (missing / "note").read_text() == "made inside\n"
    for path in (missing.parent, missing):
        assert path.stat().st_mode & 0o7777 == 0o755, path


def _drive_pty(argv: list[str], env: dict[str, str], script: bytes, timeout: float = 30):
    """Run ``argv`` on a new terminal, type ``script``, return (exit status, everything shown)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        try:
            os.chdir(env["PYTHONPATH"])
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    output = b""
    typed = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not typed and (b"# " in output or time.monotonic() > deadline - timeout + 5):
                os.write(fd, script)  # once the shell shows its prompt
                typed = True
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the terminal's other side is closed
                    break
                if not chunk:
                    break
                output += chunk
        else:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"the interactive run did not finish: {output!r}")
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_source_exercise_interactively_through_a_terminal(rt, host):
    argv = rt.argv("run", "-v", f"{host}:/container/volume", "busybox", "/bin/sh")
    script = (f"{SCENARIO}; tty; [ -t 0 ] && echo stdin-is-a-tty; exit 7\n").encode()
    code, shown = _drive_pty(argv, rt.env(TERM="dumb"), script)
    assert code == 7, shown
    assert "test data" in shown
    assert "stdin-is-a-tty" in shown
    assert "/dev/pts/" in shown  # ttyname works inside: the terminal is at its own path
    assert (host / "newfile.txt").is_file()


# --------------------------------------------------------------------------------------------
# bad input: exit 125, one line naming the spec or path, nothing created, nothing mounted


def _bad_specs(tmp: Path) -> list[tuple[list[str], str]]:
    """(arguments, text the one-line error must show)."""
    src = str(tmp / "src")
    missing = str(tmp / "missing-source")
    f = str(tmp / "src" / "file.txt")
    long_name = "n" * 300
    return [
        (["-v", ""], "''"),
        (["-v", ":"], "':'"),
        (["-v", "::"], "'::'"),
        (["-v", ":/c"], "':/c'"),
        (["-v", f"{missing}:/c:ro:x"], f"{missing}:/c:ro:x"),
        (["-v", f"{missing}:c"], "'c'"),
        (["-v", f"{missing}:."], "'.'"),
        (["-v", f"{missing}:/"], "destination can't be '/'"),
        (["-v", f"{missing}:/.."], "destination can't be '/'"),
        (["-v", f"{missing}:ro"], f"{missing}:ro"),
        (["-v", f"{missing}:/c:bogus"], "bogus"),
        (["-v", f"{missing}:/c:ro,rw"], "ro,rw"),
        (["-v", f"{src}:/x", "-v", f"{missing}:/x/"], "Duplicate mount point: /x"),
        (["-v", "a:/c"], "a"),
        (["-v", "../evil:/c"], "../evil"),
        (["-v", f"{missing}:/c:nocopy"], f"{missing}:/c:nocopy"),
        (["-v", "vol1:/c:rshared"], "vol1:/c:rshared"),
        (["--mount", f"type=bind,source={missing},target=/c"],
         f"bind source path does not exist: {missing}"),
        (["--mount", "type=bind,target=/c"], "type=bind,target=/c"),
        (["--mount", "type=nfs,src=x,dst=/c"], "type=nfs,src=x,dst=/c"),
        (["-v", f"{f}:/etc"], "/etc"),  # a file over a directory of the image
        (["-v", f"{src}:/etc/passwd"], "/etc/passwd"),  # a directory over a file
        (["-v", f"{src}:/etc/passwd/x"], "/etc/passwd/x"),  # below a file of the image
        (["-v", f"{missing}:/proc"], "/proc"),
        (["-v", f"{missing}:/proc/sys/kernel"], "/proc/sys/kernel"),
        (["--mount", "type=tmpfs,dst=/proc/x"], "/proc/x"),
        (["-v", f"{missing}/{long_name}:/c"], long_name),
        (["-v", f"{missing}:/{'d/' * 2100}c"], "/d/d/d"),
        (["-v", f"{missing}:/c", "no-such-image"], "no-such-image"),
    ]


@pytest.mark.parametrize("case", range(29))
def test_bad_input_exits_125_with_one_line_and_creates_nothing(rt, tmp_path, case):
    specs = _bad_specs(tmp_path)
    assert len(specs) == 29
    args, shown = specs[case]
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "file.txt").write_text("sentinel\n")
    image = [] if "no-such-image" in args else ["busybox"]
    before = tree(tmp_path)
    proc = rt("run", *args, *image, "/bin/true")
    assert proc.returncode == 125, proc.stderr
    line = one_line_error(proc)
    assert shown in line
    assert tree(tmp_path) == before  # nothing created, the sentinel intact, no state written
    assert not (tmp_path / "missing-source").exists()


def test_nul_byte_and_lengths_are_refused_by_the_spec_checks():
    from mountlab.errors import VolumeSpecError
    from mountlab.runtime import spec
    from mountlab.volume import Volume

    for bad in ("type=bind,src=/a\0b,dst=/c", "type=volume,dst=/c\0"):
        with pytest.raises(VolumeSpecError):
            spec.parse_mount_spec(bad)
    for volume in (Volume("/a\0b", "/c"), Volume("/a", "/c\0"), Volume("/a" * 2100, "/c")):
        with pytest.raises(VolumeSpecError):
            spec.check_mounts([("spec", volume)])


def test_usage_errors_exit_125_on_one_line(rt):
    proc = rt("run", "--no-such-flag", "busybox")
    assert proc.returncode == 125
    one_line_error(proc)


# --------------------------------------------------------------------------------------------
# odd but valid paths


@pytest.mark.parametrize("name", ["with space", "tab\there", "back\\slash", "new\nline",
                                  "élève-données"])
def test_odd_path_names_work_and_leave_the_host_clean(rt, tmp_path, name):
    src = tmp_path / name
    src.mkdir()
    (src / "sentinel").write_text("keep me\n")
    target = f"/data/{name}"
    proc = rt("run", "--mount", f'type=bind,"src={src}","dst={target}"', "busybox", "/bin/sh",
              "-c", 'cat "$1/sentinel"; echo new > "$1/made"', "sh", target)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "keep me\n"
    assert (src / "made").read_text() == "new\n"
    proc = rt("run", "-v", f"{src}:{target}:ro", "busybox", "/bin/cat", f"{target}/sentinel")
    if ":" not in name:
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "keep me\n"


def test_dot_dot_destination_lands_inside_the_rootfs(rt, host, tmp_path):
    proc = rt("run", "-v", f"{host}:/../../etc/mountlab-x", "busybox", "/bin/cat",
              "/etc/mountlab-x/test.txt")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "test data\n"
    assert not os.path.exists("/etc/mountlab-x")


def test_nested_volumes_mount_parents_first_and_tear_down(rt, host, tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "deep.txt").write_text("deep\n")
    # Given child first: the parent must still be mounted first, or it would hide the child.
    proc = rt("run", "-v", f"{inner}:/outer/inner:ro", "-v", f"{host}:/outer", "busybox",
              "/bin/sh", "-c", "cat /outer/test.txt /outer/inner/deep.txt; echo w > /outer/w")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "test data\ndeep\n"
    assert not proc.stderr
    # The child's mount point was made in the parent volume, and removed by the teardown.
    assert sorted(os.listdir(host)) == ["test.txt", "w"]


def test_file_volume(rt, host):
    proc = rt("run", "-v", f"{host}/test.txt:/etc/motd:ro", "busybox", "/bin/cat", "/etc/motd")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "test data\n"


# --------------------------------------------------------------------------------------------
# symlinks in the image


@pytest.fixture
def evil_image(state_dir, tmp_path) -> tuple[str, Path]:
    """An image whose symlinks point out of its root, absolutely and with ``..``."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "sentinel").write_text("host file\n")
    name = f"evil{os.getpid()}{tmp_path.name[-6:]}".lower().replace("_", "")
    rootfs = state_dir / "images" / name / "rootfs"
    rootfs.parent.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(state_dir / "images/busybox/rootfs"), str(rootfs)],
                   check=True)
    (rootfs / "escape").symlink_to(victim)
    (rootfs / "dotdot").symlink_to("../../../../../../../../.." + str(victim))
    (rootfs / "toproc").symlink_to("/proc/sys")
    return name, victim


def test_image_symlinks_out_of_the_rootfs_never_get_a_host_path(rt, host, evil_image):
    name, victim = evil_image
    before = tree(victim)
    proc = rt("run", "-v", f"{host}:/escape/abs", "-v", f"{host}:/dotdot/rel", name,
              "/bin/sh", "-c", "cat /escape/abs/test.txt /dotdot/rel/test.txt")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "test data\ntest data\n"  # inside the container, at the link's target
    assert tree(victim) == before  # the host directory the links name is untouched


def test_image_symlink_into_proc_is_refused(rt, host, evil_image):
    name, _ = evil_image
    proc = rt("run", "-v", f"{host}:/toproc/x", name, "/bin/true")
    assert proc.returncode == 125
    assert "/proc" in one_line_error(proc)


def test_a_resolve_target_that_escapes_is_refused_before_anything_is_created(
        rt, host, evil_image, tmp_path):
    from tests.bugs.step04 import BUGS

    naive = next(b for b in BUGS if b.mistake == "os.path.join(rootfs, target)")
    impl = impl_folder(tmp_path / "impl", replace={4: naive.source()})
    name, victim = evil_image
    before = tree(victim)
    proc = rt("run", "-v", f"{host}:/escape/abs", name, "/bin/true", impl=str(impl))
    assert proc.returncode == 125
    line = one_line_error(proc)
    assert "step 4" in line and "outside" in line
    assert tree(victim) == before


# --------------------------------------------------------------------------------------------
# steps not done yet


def test_a_step_not_done_yet_names_the_step_and_its_readme(rt, host, tmp_path):
    impl = impl_folder(tmp_path / "impl", append={
        2: "def mount_volume(source, target, *, read_only=False):\n"
           "    raise NotImplementedError('TODO')\n"})
    proc = rt("run", "-v", f"{host}:/c", "busybox", "/bin/true", impl=str(impl))
    assert proc.returncode == 125
    line = one_line_error(proc)
    assert "step 2" in line and "steps/02/README.md" in line
    assert rt("run", "busybox", "/bin/true", impl=str(impl)).returncode == 0  # no -v: fine


def test_a_french_learner_reads_why_in_french(rt, host, tmp_path):
    """MOUNTLAB_LANG (or the locale) chooses the language of ./container's own sentences; Docker's
    words and the ``container: error:`` prefix stay as scripts know them."""
    from tests import language

    impl = impl_folder(tmp_path / "impl", append={
        2: "def mount_volume(source, target, *, read_only=False):\n"
           "    raise NotImplementedError('TODO')\n"})
    # The locale alone decides the second time (./workshop test hands down MOUNTLAB_LANG).
    for env in ({"MOUNTLAB_LANG": "fr"},
                {"MOUNTLAB_LANG": "", "LANG": "fr_FR.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}):
        proc = subprocess.run(rt.argv("run", "-v", f"{host}:/c", "busybox", "/bin/true"),
                              env=rt.env(MOUNTLAB_IMPL=str(impl), **env), cwd=ROOT,
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 125
        line = one_line_error(proc)
        assert line.startswith("container: error: l'étape 2 (Monter un volume par bind mount) "
                               "n'est pas encore faite"), line
        assert "steps/02/README.fr.md" in line and not language.is_english(line), line
    proc = subprocess.run(rt.argv("run", "-v", f"{host}:/c:bogus", "busybox", "/bin/true"),
                          env=rt.env(MOUNTLAB_LANG="fr"), cwd=ROOT, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 125
    assert one_line_error(proc) == (f"container: error: invalid mode: bogus (dans -v "
                                    f"'{host}:/c:bogus')")


def test_a_step_that_does_not_import_names_the_step(rt, host, tmp_path):
    impl = impl_folder(tmp_path / "impl", replace={5: "def parse_volume_spec(spec):\n  x = (\n"})
    proc = rt("run", "-v", f"{host}:/c", "busybox", "/bin/true", impl=str(impl))
    assert proc.returncode == 125
    line = one_line_error(proc)
    assert "step 5" in line and "steps/05/README.md" in line


# --------------------------------------------------------------------------------------------
# exit codes, read-only, named volumes, image untouched, descriptors


@pytest.mark.parametrize("command, code", [
    (["/bin/true"], 0), (["/bin/sh", "-c", "exit 3"], 3), (["/etc/passwd"], 126),
    (["/bin"], 126), (["no-such-command"], 127), (["/no/such/file"], 127)])
def test_exit_codes_are_dockers(rt, command, code):
    proc = rt("run", "busybox", *command)
    assert proc.returncode == code, proc.stderr
    if code >= 126:
        assert command[0] in one_line_error(proc)


def test_read_only_volume_refuses_writes_and_submounts_too(rt, host, tmp_path):
    (host / "sub").mkdir()
    # The submount is made in a private mount namespace around the runtime, never on the host.
    script = (f"mount -t tmpfs tmpfs {host}/sub && echo x > {host}/sub/inner && "
              f"exec {' '.join(rt.argv())} run -v {host}:/c:ro busybox /bin/sh -c "
              "'cat /c/test.txt; cat /c/sub/inner; touch /c/new; echo rc=$?; touch /c/sub/new; "
              "echo rc=$?'")
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                          env=rt.env(), cwd=rt.env()["PYTHONPATH"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["test data", "x", "rc=1", "rc=1"]
    assert proc.stderr.count("Read-only file system") == 2, proc.stderr
    assert not (host / "new").exists()
    assert sorted(os.listdir(host)) == ["sub", "test.txt"]


def test_named_volume_persists_between_runs(rt, state_dir):
    name = f"keep{os.getpid()}"
    first = rt("run", "--rm", "-v", f"{name}:/data", "busybox", "/bin/sh", "-c",
               "echo persisted > /data/f")
    assert first.returncode == 0, first.stderr
    second = rt("run", "--rm", "-v", f"{name}:/data:ro", "busybox", "/bin/cat", "/data/f")
    assert second.returncode == 0, second.stderr
    assert second.stdout == "persisted\n"
    assert (state_dir / "volumes" / name / "_data" / "f").read_text() == "persisted\n"


def test_anonymous_volume_removed_with_rm(rt, state_dir):
    before = set(os.listdir(state_dir / "volumes")) if (state_dir / "volumes").exists() else set()
    proc = rt("run", "--rm", "-v", "/scratch", "busybox", "/bin/sh", "-c",
              "echo hi > /scratch/f && grep -c ' /scratch ' /proc/self/mountinfo")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "1\n"
    after = set(os.listdir(state_dir / "volumes"))
    assert after == before


def test_tmpfs_and_bind_with_mount(rt, host):
    proc = rt("run", "--mount", "type=tmpfs,dst=/scratch,tmpfs-size=1m",
              "--mount", f"type=bind,src={host},dst=/scratch/host,readonly", "busybox",
              "/bin/sh", "-c", "cat /scratch/host/test.txt; grep ' /scratch' /proc/self/mountinfo"
              " | cut -d' ' -f5,6 | cut -d, -f1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["test data", "/scratch rw", "/scratch/host ro"]


def test_image_is_never_changed(rt, state_dir):
    image = state_dir / "images" / "busybox" / "rootfs"
    before = tree(image)
    proc = rt("run", "busybox", "/bin/sh", "-c", "echo x > /etc/new; rm /bin/ls; mkdir /made")
    assert proc.returncode == 0, proc.stderr
    assert tree(image) == before


def test_only_stdio_reaches_the_command(rt, tmp_path):
    # An inherited descriptor of the caller (think of a directory fd: runc CVE-2024-21626)
    # must not reach the container.
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        proc = rt("run", "busybox", "/bin/ls", "/proc/self/fd", pass_fds=(fd,))
    finally:
        os.close(fd)
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split()) == ["0", "1", "2", "3"]  # 3: ls's own listing


def test_hostname_pid_namespace_and_dev(rt):
    proc = rt("run", "--hostname", "box", "busybox", "/bin/sh", "-c",
              "hostname; echo $$; ls /dev | tr '\\n' ' '; echo; echo x > /dev/null && "
              "head -c 4 /dev/zero | wc -c")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "box"
    assert lines[1] == "1"
    for device in ("null", "zero", "full", "random", "urandom", "tty"):
        assert device in lines[2].split()
    assert lines[3].strip() == "4"


def test_many_volumes(rt, tmp_path):
    src = tmp_path / "many"
    src.mkdir()
    args = []
    for i in range(200):
        args += ["-v", f"{src}:/v/{i}:ro"]
    started = time.monotonic()
    proc = rt("run", *args, "busybox", "/bin/sh", "-c",
              "grep -c ' /v/' /proc/self/mountinfo")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "200\n"
    assert time.monotonic() - started < 30


# --------------------------------------------------------------------------------------------
# ps, inspect, exec, stale state, kill -9


def _start_sleeper(rt, *args: str, name: str = "sleeper") -> tuple[subprocess.Popen, dict]:
    proc = rt.popen("run", "--name", name, *args, "busybox", "/bin/sleep", "60")

    def running():
        out = rt("ps", "--format", "json")
        records = json.loads(out.stdout or "[]")
        return next((r for r in records if r["name"] == name and r["status"] == "running"),
                    None)
    try:
        record = wait_for(running, what="the container to run")
    except AssertionError:
        proc.kill()
        raise AssertionError(proc.communicate()) from None
    return proc, record


def test_ps_inspect_exec(rt, host):
    proc, record = _start_sleeper(rt, "-v", f"{host}:/container/volume:ro")
    try:
        table = rt("ps")
        assert "sleeper" in table.stdout and record["id"][:12] in table.stdout
        info = json.loads(rt("inspect", "sleeper").stdout)[0]
        inside = {m["Destination"]: m for m in info["MountsInside"]}
        assert inside["/"]["Type"] == "overlay"
        assert inside["/container/volume"]["RW"] is False
        assert "/proc" in inside and "/dev/null" in inside
        assert info["Volumes"][0]["source"] == str(host)
        ran = rt("exec", record["id"][:8], "/bin/sh", "-c",
                 "cat /container/volume/test.txt; hostname; pidof sleep")
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.splitlines() == ["test data", record["id"][:12], "1"]
        assert rt("exec", "sleeper", "no-such-command").returncode == 127
        assert rt("exec", "no-such-container", "/bin/true").returncode == 125
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def test_kill_9_while_the_command_runs_leaves_no_mount_and_no_ghost(rt, host):
    before = host_mounts()
    proc, record = _start_sleeper(rt, "-v", f"{host}:/container/volume")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert rt.containers() == []  # the next ps: no ghost, at once
    assert host_mounts() == before
    wait_for(lambda: gone(record["pid"]), timeout=10, what="the container's process to die")
    assert not os.listdir(rt.run_dir / "containers")  # its directory is gone too


def test_kill_9_during_volume_setup_leaves_no_mount_and_no_ghost(rt, tmp_path):
    # A step 2 that takes its time, so that the kill lands in the middle of the volumes.
    impl = impl_folder(tmp_path / "impl", append={2: (
        "import time as _time\n_mount = mount_volume\n\n\n"
        "def mount_volume(source, target, *, read_only=False):\n"
        "    _time.sleep(0.1)\n"
        "    return _mount(source, target, read_only=read_only)\n")})
    src = tmp_path / "src"
    src.mkdir()
    args = [a for i in range(30) for a in ("-v", f"{src}:/v/{i}")]
    before = host_mounts()
    proc = rt.popen("run", *args, "busybox", "/bin/true", impl=str(impl))

    def keeper_has_volumes():
        for child in children(proc.pid):
            try:
                with open(f"/proc/{child}/mountinfo", "rb") as f:
                    if f.read().count(b"/rootfs/v/") >= 2:
                        return child
            except OSError:
                pass
        return None
    keeper = wait_for(keeper_has_volumes, what="volumes being mounted")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert rt.containers() == []
    assert host_mounts() == before
    wait_for(lambda: gone(keeper), timeout=10, what="the runtime's child to die")


def test_stale_state_is_cleaned_at_the_next_start(rt):
    stale = rt.run_dir / "containers" / ("f" * 64)
    stale.mkdir(parents=True)
    (stale / "lock").write_text("")
    (stale / "state.json").write_text(json.dumps({"id": "f" * 64, "name": "ghost", "pid": 1}))
    (stale / "upper").mkdir()
    (stale / "upper" / "file").write_text("x")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    proc = rt("run", "--name", "ghost", "busybox", "/bin/true")  # the name is free again
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists()


def test_name_conflict_with_a_running_container(rt):
    proc, _ = _start_sleeper(rt, name="taken")
    try:
        again = rt("run", "--name", "taken", "busybox", "/bin/true")
        assert again.returncode == 125
        assert "taken" in one_line_error(again)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def test_sigterm_is_forwarded_and_volumes_are_torn_down(rt, host):
    proc = rt.popen("run", "--name", "term", "-v", f"{host}:/c", "busybox", "/bin/sh", "-c",
                    "trap 'echo got-term; exit 9' TERM; while :; do sleep 0.05; done")
    wait_for(lambda: any(r.get("status") == "running" for r in
                         json.loads(rt("ps", "--format", "json").stdout)), what="running")
    time.sleep(0.2)  # let the shell install its trap
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 9, err
    assert "got-term" in out
    assert not err


def test_help_and_plugins_do_not_crash(rt):
    assert rt("--help").returncode == 0
    assert rt("ps").returncode == 0
    proc = rt("image", "ls")
    assert proc.returncode in (0, 125), proc.stderr
    assert sys.executable
