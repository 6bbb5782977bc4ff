"""Graded checks of step 1: ``setup_volume`` creates the volume's directories.

Run them with ``pytest steps/01``. Each check runs your code in a throwaway mount namespace.
What the checks say (their titles, the reasons they fail) is in ``messages.toml`` beside this file,
in English and French.
"""

import os
import stat

import pytest

from mountlab import messages
from mountlab.grading.checks import snapshot, umask
from mountlab.impl import step
from mountlab.mountinfo import is_mountpoint

say = messages.beside(__file__)


def setup_volume(volume_path, container_path):
    return step(1).setup_volume(str(volume_path), str(container_path))


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.points(3, section="what-to-do")
def test_creates_both_directories_with_their_parents(tmp_path):
    host, mountpoint = tmp_path / "host" / "a" / "data", tmp_path / "rootfs" / "srv" / "data"
    setup_volume(host, mountpoint)
    assert host.is_dir(), say("host_not_created", path=host)
    assert mountpoint.is_dir(), say("mountpoint_not_created", path=mountpoint)


@pytest.mark.points(4, section="modes-and-the-umask")
@pytest.mark.parametrize("mask", [0o077, 0o000], ids=["umask-077", "umask-000"])
def test_created_directories_are_0755_whatever_the_umask(tmp_path, mask):
    host, mountpoint = tmp_path / "host" / "vol", tmp_path / "rootfs" / "mnt" / "vol"
    with umask(mask):
        setup_volume(host, mountpoint)
    for path in (host.parent, host, mountpoint.parent, mountpoint):
        assert mode(path) == 0o755, say("mode_under_umask", path=path, mode=mode(path),
                                         mask=mask)


@pytest.mark.points(3, section="leave-what-exists-alone")
def test_existing_directories_keep_their_mode_and_contents(tmp_path):
    host, mountpoint = tmp_path / "host", tmp_path / "rootfs" / "data"
    host.mkdir(mode=0o700)
    (host / "keep.txt").write_text("precious")
    mountpoint.parent.mkdir()
    os.chmod(mountpoint.parent, 0o711)
    before = snapshot(tmp_path)
    setup_volume(host, mountpoint)
    assert mode(host) == 0o700, say("existing_mode_changed", path=host, before=0o700,
                                    after=mode(host))
    assert mode(mountpoint.parent) == 0o711, say("existing_mode_changed", path=mountpoint.parent,
                                                 before=0o711, after=mode(mountpoint.parent))
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before, say("existing_changed")
    assert (host / "keep.txt").read_text() == "precious", say("existing_file_lost", path=host)


@pytest.mark.points(3, section="a-file-in-the-way")
@pytest.mark.parametrize("which", ["host", "mount-point", "parent"])
def test_a_file_in_the_way_raises_not_a_directory_error(tmp_path, which):
    host, mountpoint = tmp_path / "host" / "vol", tmp_path / "rootfs" / "vol"
    in_the_way = {"host": host, "mount-point": mountpoint, "parent": host.parent}[which]
    in_the_way.parent.mkdir(parents=True, exist_ok=True)
    in_the_way.write_text("not a directory")
    before = snapshot(tmp_path)
    with pytest.raises(NotADirectoryError) as raised:
        setup_volume(host, mountpoint)
    assert str(in_the_way) in str(raised.value), say("error_must_name_path", path=in_the_way,
                                                     said=raised.value)
    assert snapshot(tmp_path) == before, say("created_before_raising")


@pytest.mark.points(2, section="what-to-do")
def test_calling_twice_changes_nothing(tmp_path):
    host, mountpoint = tmp_path / "host", tmp_path / "rootfs" / "data"
    setup_volume(host, mountpoint)
    before = snapshot(tmp_path)
    setup_volume(host, mountpoint)
    assert snapshot(tmp_path) == before, say("second_call_changed")


@pytest.mark.points(3, section="what-to-do")
@pytest.mark.parametrize("name", ["with space", "tab\there", "new\nline", "back\\slash",
                                  "données-é中", "long-" + "x" * 250],
                         ids=["space", "tab", "newline", "backslash", "non-ascii", "long"])
def test_awkward_names(tmp_path, name):
    host = tmp_path / name / name
    mountpoint = tmp_path / "rootfs" / name / name
    setup_volume(host, mountpoint)
    assert host.is_dir() and mountpoint.is_dir(), say("awkward_not_created", host=host,
                                                      mountpoint=mountpoint)
    assert mode(host) == mode(mountpoint) == 0o755, say(
        "awkward_mode", host=host, mountpoint=mountpoint, host_mode=mode(host),
        mountpoint_mode=mode(mountpoint))


@pytest.mark.points(2, section="why-two-directories")
def test_creates_directories_and_mounts_nothing(tmp_path):
    host, mountpoint = tmp_path / "host", tmp_path / "rootfs" / "data"
    setup_volume(host, mountpoint)
    assert host.is_dir() and mountpoint.is_dir(), say("both_must_exist")
    assert not is_mountpoint(mountpoint) and not is_mountpoint(host), say("mounted_something")
