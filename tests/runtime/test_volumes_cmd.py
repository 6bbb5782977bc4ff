"""``./container volume create|ls|inspect|rm|prune`` (mountlab/runtime/volumes.py).

Everything runs against throw-away state directories (MOUNTLAB_STATE, MOUNTLAB_RUN), never the
real /var/lib/mountlab. Mounts, where a test needs one, are made in a private mount namespace of
a child process (``unshare -m --propagation private``), so none can reach the host.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from mountlab.runtime import cli, state

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("MOUNTLAB_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("MOUNTLAB_RUN", str(tmp_path / "run"))
    return tmp_path


@pytest.fixture
def container(env, capsys, monkeypatch):
    """Run ``./container ARGS`` in this process; return (exit code, stdout, stderr)."""
    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        import io

        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return run


def data_dir(env, name: str) -> str:
    return str(env / "state" / "volumes" / name / "_data")


@pytest.fixture
def live_container(env):
    """A fake running container using volumes, in state.py's own format: its lock is held by
    this process for as long as the test runs, which is what makes a record live."""
    fds = []

    def make(name: str, volumes: list[str]) -> str:
        cid = state.new_container_id()
        record = {"id": cid, "name": name, "pid": os.getpid(), "image": "busybox",
                  "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                  "volumes": [{"kind": "volume", "name": v, "target": f"/{v}"} for v in volumes]}
        fds.append(state.create_container(cid, record))
        return cid

    yield make
    for fd in fds:
        os.close(fd)


def test_create_prints_the_name_and_makes_the_data_dir(env, container):
    code, out, err = container("volume", "create", "data")
    assert (code, out, err) == (0, "data\n", "")
    path = data_dir(env, "data")
    assert os.path.isdir(path)
    assert os.stat(path).st_mode & 0o777 == 0o755


def test_create_is_idempotent_and_keeps_the_data(env, container):
    container("volume", "create", "data")
    with open(os.path.join(data_dir(env, "data"), "keep"), "w") as f:
        f.write("x")
    assert container("volume", "create", "data")[:2] == (0, "data\n")
    assert os.path.exists(os.path.join(data_dir(env, "data"), "keep"))


def test_create_without_a_name_makes_64_hex(env, container):
    code, out, _ = container("volume", "create")
    name = out.strip()
    assert code == 0 and len(name) == 64 and int(name, 16) >= 0
    assert os.path.isdir(data_dir(env, name))


@pytest.mark.parametrize("bad", ["a", "../evil", "_x", ".hidden", "a/b", "with space", "é1"])
def test_invalid_names_create_nothing(env, container, bad):
    code, out, err = container("volume", "create", bad)
    assert code == 125 and out == ""
    assert err.startswith("container: error: ") and err.count("\n") == 1
    assert "invalid characters" in err
    assert not os.path.exists(env / "evil")
    assert container("volume", "ls", "-q")[1] == ""


def test_ls_lists_sorted_with_docker_header(env, container):
    for name in ("zz", "aa", "m.1"):
        container("volume", "create", name)
    code, out, _ = container("volume", "ls")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert [line.split() for line in lines[1:]] == [["local", "aa"], ["local", "m.1"],
                                                     ["local", "zz"]]
    assert container("volume", "ls", "-q")[1] == "aa\nm.1\nzz\n"


def test_ls_skips_leftovers_and_strangers(env, container):
    container("volume", "create", "good")
    volumes = env / "state" / "volumes"
    (volumes / ".trash-x-1-abc").mkdir()
    (volumes / "no_data_dir").mkdir()
    (volumes / "afile").write_text("")
    assert container("volume", "ls", "-q")[1] == "good\n"


def test_inspect_is_docker_json(env, container):
    container("volume", "create", "data")
    code, out, _ = container("volume", "inspect", "data")
    assert code == 0
    [record] = json.loads(out)
    assert record["Name"] == "data"
    assert record["Mountpoint"] == data_dir(env, "data")
    assert record["Driver"] == "local" and record["Scope"] == "local"
    assert record["CreatedAt"][:4].isdigit() and "T" in record["CreatedAt"]


def test_inspect_a_volume_made_by_run(env, container):
    # `run -v name:/dst` creates the data directory through step 1, without volume.json.
    os.makedirs(data_dir(env, "byrun"))
    [record] = json.loads(container("volume", "inspect", "byrun")[1])
    assert record["Name"] == "byrun" and record["CreatedAt"]


def test_inspect_missing(env, container):
    code, out, err = container("volume", "inspect", "nosuch")
    assert code == 125
    assert "no such volume" in err and "nosuch" in err


def test_rm_removes_data_and_prints_names(env, container):
    container("volume", "create", "data")
    os.makedirs(os.path.join(data_dir(env, "data"), "sub"))
    with open(os.path.join(data_dir(env, "data"), "sub", "f"), "w") as f:
        f.write("x")
    code, out, err = container("volume", "rm", "data")
    assert (code, out, err) == (0, "data\n", "")
    assert not os.path.exists(os.path.dirname(data_dir(env, "data")))
    assert os.listdir(env / "state" / "volumes") == []


def test_rm_missing_is_an_error_unless_forced(env, container):
    container("volume", "create", "data")
    code, out, err = container("volume", "rm", "nosuch", "data")
    assert code == 125 and out == "data\n" and "nosuch" in err
    assert container("volume", "rm", "-f", "nosuch")[0] == 0


def test_rm_does_not_follow_a_symlinked_volume(env, container, tmp_path):
    outside = tmp_path / "outside"
    (outside / "_data").mkdir(parents=True)
    (outside / "_data" / "precious").write_text("keep me")
    os.makedirs(env / "state" / "volumes")
    os.symlink(outside, env / "state" / "volumes" / "link")
    code, _, _ = container("volume", "rm", "link")
    assert code == 125
    assert (outside / "_data" / "precious").read_text() == "keep me"


def test_rm_refuses_a_volume_in_use(env, container, live_container):
    container("volume", "create", "data")
    cid = live_container("web", ["data"])
    code, out, err = container("volume", "rm", "data")
    assert code == 125 and out == ""
    assert "volume is in use" in err and cid[:12] in err and "web" in err
    assert os.path.isdir(data_dir(env, "data"))


def test_volume_of_a_dead_container_is_not_in_use(env, container):
    container("volume", "create", "data")
    cid = state.new_container_id()
    fd = state.create_container(cid, {"id": cid, "name": "gone", "volumes": [
        {"kind": "volume", "name": "data"}]})
    os.close(fd)  # the runtime died: its lock is released, the record is stale
    assert container("volume", "rm", "data")[:2] == (0, "data\n")


def test_prune_removes_only_unused(env, container, live_container):
    for name in ("used", "free1", "free2"):
        container("volume", "create", name)
    with open(os.path.join(data_dir(env, "free1"), "f"), "w") as f:
        f.write("x" * 1500)
    live_container("db", ["used"])
    code, out, err = container("volume", "prune", "-f")
    assert code == 0, err
    assert out.splitlines()[:3] == ["Deleted Volumes:", "free1", "free2"]
    assert "Total reclaimed space: 1.5kB" in out
    assert container("volume", "ls", "-q")[1] == "used\n"


def test_prune_asks_first(env, container):
    container("volume", "create", "data")
    code, out, err = container("volume", "prune", stdin="n\n")
    assert code == 0 and "Are you sure" in err
    assert container("volume", "ls", "-q")[1] == "data\n"
    code, out, err = container("volume", "prune", stdin="y\n")
    assert code == 0 and "data" in out
    assert container("volume", "ls", "-q")[1] == ""


def test_prune_cleans_leftovers_of_dead_removals(env, container):
    container("volume", "create", "data")
    leftover = env / "state" / "volumes" / ".trash-old-999999999-abc"
    (leftover / "old" / "_data").mkdir(parents=True)
    container("volume", "prune", "-f")
    assert not leftover.exists()


needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                                reason="mounting needs root and unshare(1)")


def _in_private_namespace(script: str, env) -> subprocess.CompletedProcess[str]:
    """Run a shell script in a private mount namespace: its mounts vanish with it."""
    variables = dict(os.environ, MOUNTLAB_STATE=str(env / "state"),
                     MOUNTLAB_RUN=str(env / "run"), PYTHONPATH=ROOT, PY=sys.executable)
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-ec", script],
                          env=variables, capture_output=True, text=True, timeout=60)


@needs_root
def test_rm_refuses_when_something_is_mounted_inside(env, container):
    container("volume", "create", "data")
    data = data_dir(env, "data")
    os.mkdir(os.path.join(data, "sub"))
    with open(os.path.join(data, "keep"), "w") as f:
        f.write("keep")
    host = env / "host"
    host.mkdir()
    (host / "precious").write_text("host file")
    proc = _in_private_namespace(
        f'mount --bind "{host}" "{data}/sub"\n'
        '"$PY" -m mountlab.runtime volume rm data && exit 99\n'
        '"$PY" -m mountlab.runtime volume prune -f && exit 98\n'
        f'test -f "{data}/sub/precious"\n', env)
    assert proc.returncode == 0, proc.stderr
    assert "mounted inside the volume" in proc.stderr
    assert (host / "precious").read_text() == "host file"
    assert os.path.exists(os.path.join(data, "keep"))


@needs_root
def test_rm_refuses_a_volume_that_is_a_mount_point(env, container):
    container("volume", "create", "data")
    data = data_dir(env, "data")
    host = env / "host"
    host.mkdir()
    (host / "precious").write_text("host file")
    proc = _in_private_namespace(
        f'mount --bind "{host}" "{data}"\n'
        '"$PY" -m mountlab.runtime volume rm data && exit 99\n'
        'true\n', env)
    assert proc.returncode == 0, proc.stderr
    assert "mount point" in proc.stderr
    assert (host / "precious").read_text() == "host file"


def test_the_real_command_line(env):
    # The same through `python -m mountlab.runtime`, as ./container runs it.
    variables = dict(os.environ, MOUNTLAB_STATE=str(env / "state"),
                     MOUNTLAB_RUN=str(env / "run"), PYTHONPATH=ROOT)
    run = [sys.executable, "-m", "mountlab.runtime", "volume"]
    assert subprocess.run(run + ["create", "cli"], env=variables, capture_output=True,
                          text=True).stdout == "cli\n"
    proc = subprocess.run(run + ["rm", "nope"], env=variables, capture_output=True, text=True)
    assert proc.returncode == 125
    assert proc.stderr.startswith("container: error: ") and proc.stderr.count("\n") == 1


@needs_root
@pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="apt-get install busybox-static")
def test_a_real_running_container_holds_its_volume_and_image(env, container):
    """End to end: `run -v data:/data busybox` keeps `volume rm data` and `image rm busybox`
    away while it runs; once it has exited both go, and the data written inside was there."""
    from mountlab.runtime import images

    images.ensure_busybox()
    variables = dict(os.environ, MOUNTLAB_STATE=str(env / "state"),
                     MOUNTLAB_RUN=str(env / "run"), PYTHONPATH=ROOT, MOUNTLAB_IMPL="solutions")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mountlab.runtime", "run", "--name", "holder", "-v", "data:/data",
         "busybox", "/bin/sh", "-c",
         "echo kept > /data/f; i=0; while [ ! -e /data/stop ] && [ $i -lt 600 ]; do "
         "sleep 0.1; i=$((i+1)); done"],
        env=variables, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(data_dir(env, "data"), "f")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the container did not start"
            time.sleep(0.05)
        code, _, err = container("volume", "rm", "data")
        assert code == 125 and "volume is in use" in err and "holder" in err
        code, out, _ = container("volume", "prune", "-f")
        assert code == 0 and "data" not in out
        code, _, err = container("image", "rm", "busybox")
        assert code == 125 and "in use" in err and "holder" in err
    finally:
        # The command ends when it sees this file (a PID 1 would ignore SIGTERM).
        if os.path.isdir(data_dir(env, "data")):
            open(os.path.join(data_dir(env, "data"), "stop"), "w").close()
        else:
            proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert container("volume", "rm", "data")[:2] == (0, "data\n")
    assert container("image", "rm", "busybox")[:2] == (0, "busybox\n")
