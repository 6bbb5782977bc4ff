"""The mountinfo parser: unit cases, and agreement with findmnt on awkward mount point names."""

import json
import os
import shutil
import subprocess

import pytest

from mountlab import mountinfo, sandbox, syscalls

AWKWARD = ["with space", "tab\there", "new\nline", "back\\slash", "données-中文", "x" * 200,
           "mixed \t\\ é\n end"]


def test_parse_line_with_optional_fields_and_escapes():
    line = (rb"36 35 98:0 /mnt\0401 /mnt/par\011ent rw,noatime master:1 shared:7 - ext3 "
            rb"/dev/ro\134ot rw,errors=continue")
    m = mountinfo.parse_line(line)
    assert (m.mount_id, m.parent_id, m.major, m.minor) == (36, 35, 98, 0)
    assert m.root == "/mnt 1" and m.mountpoint == "/mnt/par\tent"
    assert m.options == ("rw", "noatime") and m.optional == ("master:1", "shared:7")
    assert (m.fstype, m.source) == ("ext3", "/dev/ro\\ot")
    assert m.super_options == ("rw", "errors=continue")
    assert m.propagation == "shared" and not m.read_only
    assert mountinfo.mount_id(line) == m.mount_id  # the first field alone, as parsed whole


def test_parse_line_without_optional_fields():
    m = mountinfo.parse_line("22 27 0:21 / /proc ro,relatime - proc proc rw\n")
    assert m.optional == () and m.propagation == "private" and m.read_only
    assert m.mountpoint == "/proc" and m.fstype == "proc"


def test_parse_line_rejects_garbage():
    with pytest.raises(ValueError, match="not a mountinfo line"):
        mountinfo.parse_line("1 2 3")


def test_non_utf8_names_survive_as_surrogates():
    m = mountinfo.parse_line(b"1 2 0:1 / /tmp/\xff\\040x rw - tmpfs none rw")
    assert os.fsencode(m.mountpoint) == b"/tmp/\xff x"


def _mount_awkward_and_ask_findmnt(base):
    for name in AWKWARD:
        path = os.path.join(base, name)
        os.mkdir(path)
        syscalls.mount("tmpfs", path, "tmpfs", 0, "size=1m")
    # --nofsroot: findmnt otherwise writes SOURCE as "/dev/sda1[/dir]" for a bind mount, as `/`
    # is in a container; mountinfo keeps that folder apart, as FSROOT.
    out = subprocess.run(["findmnt", "-J", "-l", "--nofsroot", "-o",
                          "ID,PARENT,TARGET,SOURCE,FSTYPE,FSROOT"],
                         capture_output=True, text=True, check=True).stdout
    theirs = {fs["id"]: fs for fs in json.loads(out)["filesystems"]}
    ours = {m.mount_id: list(m) for m in mountinfo.read()}  # JSON carries it back as a list
    for name in AWKWARD:
        syscalls.umount2(os.path.join(base, name))
    return theirs, ours


@pytest.mark.skipif(shutil.which("findmnt") is None, reason="findmnt (util-linux) not installed")
def test_parser_agrees_with_findmnt_on_awkward_names(tmp_path):
    theirs, ours = sandbox.run(_mount_awkward_and_ask_findmnt, str(tmp_path))
    ours = {mount_id: mountinfo.Mount(*fields) for mount_id, fields in ours.items()}
    assert theirs.keys() == ours.keys()
    for mount_id, fs in theirs.items():
        m = ours[mount_id]
        assert (m.parent_id, m.mountpoint, m.source, m.fstype, m.root) == (
            fs["parent"], fs["target"], fs["source"], fs["fstype"], fs["fsroot"]), fs
    targets = {m.mountpoint for m in ours.values()}
    assert {str(tmp_path / name) for name in AWKWARD} <= targets


def _is_mountpoint_cases(base):
    src, dst = os.path.join(base, "src"), os.path.join(base, "dst")
    os.mkdir(src)
    os.mkdir(dst)
    before = mountinfo.is_mountpoint(dst)
    syscalls.mount(src, dst, None, syscalls.MS_BIND)
    after = mountinfo.is_mountpoint(dst)
    ismount = os.path.ismount(dst)
    found = len(mountinfo.find(dst))
    syscalls.umount2(dst)
    return before, after, ismount, found, mountinfo.is_mountpoint(os.path.join(base, "nope"))


def test_is_mountpoint_sees_a_bind_mount_of_the_same_filesystem(tmp_path):
    before, after, ismount, found, missing = sandbox.run(_is_mountpoint_cases, str(tmp_path))
    assert (before, after, found, missing) == (False, True, 1, False)
    assert ismount is False  # the reason steps must not use os.path.ismount
