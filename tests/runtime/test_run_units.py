"""Unit tests of the runtime's pure parts: ``--mount`` parsing, the checks across specs, the
runtime's own in-root resolver, the container records (no root needed)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys

import pytest

from mountlab.errors import VolumeSpecError
from mountlab.runtime import rootfs, spec, state
from mountlab.volume import Volume


@pytest.mark.parametrize("text, expected", [
    ("type=bind,source=/tmp,target=/x", Volume("/tmp", "/x")),
    ("type=bind,src=/tmp,dst=/x/,ro", Volume("/tmp", "/x", True, "bind", "", "ro")),
    ("type=bind,src=/tmp,destination=/x,readonly=false,bind-propagation=rslave",
     Volume("/tmp", "/x", False, "bind", "rslave")),
    ("type=volume,src=data,dst=/d", Volume("data", "/d", kind="volume")),
    ("dst=/anon", Volume(None, "/anon", kind="volume")),
    ('type=bind,"src=/tmp",dst=/a', Volume("/tmp", "/a")),
])
def test_mount_specs(text, expected):
    assert spec.parse_mount_spec(text) == expected


def test_tmpfs_spec():
    t = spec.parse_mount_spec("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770,ro")
    assert (t.target, t.read_only, t.size, t.mode) == ("/t", True, 64 << 20, 0o1770)
    assert t.options() == f"size={64 << 20},mode=1770"


@pytest.mark.parametrize("text, message", [
    ("type=bind,src=/no/such/dir,dst=/x", "bind source path does not exist: /no/such/dir"),
    ("type=bind,dst=/x", "field Source must not be empty"),
    ("type=bind,src=/tmp", "target is required"),
    ("type=bind,src=/tmp,dst=x", "invalid mount path: 'x' mount path must be absolute"),
    ("type=bind,src=/tmp,dst=/..", "destination can't be '/'"),
    ("type=bind,src=rel,dst=/x", "invalid mount path: 'rel'"),
    ("type=tmpfs,src=/tmp,dst=/x", "field Source must not be specified"),
    ("type=nfs,dst=/x", "mount type unknown"),
    ("type=volume,src=v1,dst=/x,bind-propagation=shared",
     "cannot mix 'bind-*' options with mount type 'volume'"),
    ("type=bind,src=/tmp,dst=/x,bind-propagation=sideways", "invalid propagation mode"),
    ("type=bind,src=/tmp,dst=/x,readonly=maybe", "invalid value for readonly: maybe"),
    ("type=volume,src=../evil,dst=/x", "invalid characters for a local volume name"),
    ("type=bind,src=/tmp,dst=/x,colour=red", "unexpected key 'colour' in 'colour=red'"),
    ("type=bind,src=/tmp,dst=/x,bogus", "invalid field 'bogus' must be a key=value pair"),
    ("type=tmpfs,dst=/x,tmpfs-size=lots", "invalid value for tmpfs-size: lots"),
])
def test_bad_mount_specs_name_the_spec(text, message):
    with pytest.raises(VolumeSpecError) as info:
        spec.parse_mount_spec(text)
    assert message in str(info.value)
    assert f'"{text}"' in str(info.value)
    assert info.value.spec == text


def test_clean_target_is_go_filepath_clean():
    assert spec.clean_target("//a//b/../c/") == "/a/c"
    assert spec.clean_target("/../../etc/x") == "/etc/x"
    assert spec.clean_target("/x/") == "/x"


def test_check_mounts_duplicates_proc_and_root():
    ok = [("a", Volume("/a", "/x")), ("b", Volume("/b", "/y"))]
    spec.check_mounts(ok)
    for mounts, message in [
        (ok + [("c", Volume("/c", "/x/"))], "Duplicate mount point: /x"),
        ([("p", Volume("/a", "/proc"))], "inside /proc"),
        ([("p", Volume("/a", "/proc/sys/../self"))], "inside /proc"),
        ([("r", Volume("/a", "/x/.."))], "destination can't be '/'"),
        ([("r", Volume("/a", "rel"))], "must be absolute"),
        ([("l", Volume("/" + "n" * 256, "/x"))], "the limit is 255"),
    ]:
        with pytest.raises(VolumeSpecError, match=message):
            spec.check_mounts(mounts)


def test_resolve_in_root_never_leaves_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "abs").symlink_to("/etc")
    (root / "rel").symlink_to("../../../../etc")
    (root / "loop").symlink_to("loop")
    (root / "etc" / "up").symlink_to("..")
    r = str(root)
    assert rootfs.resolve_in_root(r, "/abs/x") == f"{r}/etc/x"
    assert rootfs.resolve_in_root(r, "/rel/x") == f"{r}/etc/x"
    assert rootfs.resolve_in_root(r, "/../../x") == f"{r}/x"
    assert rootfs.resolve_in_root(r, "/etc/up/etc/up/../etc") == f"{r}/etc"
    assert rootfs.resolve_in_root(r, "/missing/../etc") == f"{r}/etc"
    with pytest.raises(OSError):
        rootfs.resolve_in_root(r, "/loop/x")
    assert rootfs.inside(r, f"{r}/etc") and not rootfs.inside(r, "/etc")
    assert not rootfs.inside(r, f"{r}/abs")  # resolved by the host: /etc


def test_record_encoder_is_json():
    value = {"a": [1, 2.5, None, True, False, 'q"\\\n\t\x01é', os.fsdecode(b"\xff")],
             "b": {}, "c": [], "d": {"e": -3}}
    assert json.loads(state.encode(value)) == value


def test_mounted_below_reads_the_mount_table():
    assert state.mounted_below("/proc")
    assert not state.mounted_below("/proc-not-a-mount")


def _record(cid: str, **extra) -> dict:
    return {"id": cid, "name": cid[:4], "started": "2024", "volumes": [], **extra}


def test_a_record_lives_exactly_as_long_as_its_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("MOUNTLAB_RUN", str(tmp_path / "run"))
    monkeypatch.setenv("MOUNTLAB_STATE", str(tmp_path / "state"))
    live, stale = "a" * 64, "b" * 64
    fd = state.create_container(live, _record(live, volumes=[
        {"kind": "volume", "name": "data"}, {"kind": "bind", "name": None}]))
    assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    # A record whose runtime died: its lock is free.
    os.close(state.create_container(stale, _record(stale)))
    # Another process holding a lock keeps that record alive.
    held = "c" * 64
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom mountlab.runtime import state\n"
         f"state.create_container({held!r}, {{'id': {held!r}, 'volumes': []}})\n"
         "print('ready', flush=True)\nsys.stdin.read()"],
        env={**os.environ, "PYTHONPATH": os.getcwd()}, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "ready\n"
        ids = [r["id"] for r in state.list_containers()]
        assert sorted(ids) == sorted([live, held])
        assert not os.path.exists(state.container_dir(stale))  # cleaned, no ghost
        assert state.volumes_in_use() == {"data"}
        assert state.find_container(live[:6])["id"] == live
        with pytest.raises(LookupError, match="No such container"):
            state.find_container("zzz")
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    assert [r["id"] for r in state.list_containers()] == [live]
    os.close(fd)
    assert state.list_containers() == []
    assert os.listdir(state.containers_dir()) == []


def test_run_dir_defaults(monkeypatch):
    monkeypatch.delenv("MOUNTLAB_RUN", raising=False)
    if os.geteuid() == 0:
        assert state.run_dir() == "/run/mountlab"
    monkeypatch.setenv("MOUNTLAB_STATE", "/s")
    assert state.image_rootfs("busybox") == "/s/images/busybox/rootfs"


@pytest.mark.parametrize("argv", [
    ["run", "busybox"],
    ["run", "--rm", "-it", "busybox", "/bin/sh", "-c", "echo -v --rm"],
    ["run", "-v", "/a:/b", "-v/c:/d:ro", "--volume", "e:/f", "--volume=/g:/h", "busybox", "ls"],
    ["run", "--mount", "type=tmpfs,dst=/t", "--mount=type=bind,src=/a,dst=/b", "img"],
    ["run", "--name", "web", "--hostname=box", "-t", "-i", "busybox", "sleep", "1"],
    ["run", "-ti", "busybox", "-x"],
    ["run", "-", "x"],
])
def test_the_fast_run_parser_agrees_with_argparse(argv):
    from mountlab.runtime import cli

    fast = cli.fast_run_args(argv)
    assert fast is not None
    assert vars(fast) == vars(cli.build_parser(argv).parse_args(argv))


@pytest.mark.parametrize("argv", [
    ["run"], ["run", "--rm"], ["run", "-v"], ["run", "-v", "-x", "img"], ["run", "--na", "x", "i"],
    ["run", "--help"], ["run", "-h"], ["run", "--rm=1", "img"], ["run", "-v=/a:/b", "img"],
    ["run", "--", "img"], ["run", "img", "--", "x"], ["ps"],
])
def test_the_fast_run_parser_leaves_the_rest_to_argparse(argv):
    from mountlab.runtime import cli

    assert cli.fast_run_args(argv) is None
