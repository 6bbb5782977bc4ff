"""Graded checks of step 1: ``setup_volume`` creates the volume's directories.

Run them with ``pytest steps/01``. Each check runs your code in a throwaway mount namespace.
"""

import os
import stat

import pytest

from mountlab.grading.checks import snapshot, umask
from mountlab.impl import step
from mountlab.mountinfo import is_mountpoint


def setup_volume(volume_path, container_path):
    return step(1).setup_volume(str(volume_path), str(container_path))


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.points(3, section="what-to-do")
def test_creates_both_directories_with_their_parents(tmp_path):
    """Both directories are created, missing parents included"""
    host, mountpoint = tmp_path / "host" / "a" / "data", tmp_path / "rootfs" / "srv" / "data"
    setup_volume(host, mountpoint)
    assert host.is_dir(), f"the volume's host directory was not created: {host}"
    assert mountpoint.is_dir(), f"the mount point was not created: {mountpoint}"


@pytest.mark.points(4, section="modes-and-the-umask")
@pytest.mark.parametrize("mask", [0o077, 0o000], ids=["umask-077", "umask-000"])
def test_created_directories_are_0755_whatever_the_umask(tmp_path, mask):
    """What is created is mode 0755, parents included, whatever the umask"""
    host, mountpoint = tmp_path / "host" / "vol", tmp_path / "rootfs" / "mnt" / "vol"
    with umask(mask):
        setup_volume(host, mountpoint)
    for path in (host.parent, host, mountpoint.parent, mountpoint):
        assert mode(path) == 0o755, (
            f"{path} was created with mode {mode(path):04o} under umask {mask:03o}, not 0755: "
            "mkdir's mode is filtered by the umask, chmod is not")


@pytest.mark.points(3, section="leave-what-exists-alone")
def test_existing_directories_keep_their_mode_and_contents(tmp_path):
    """Directories that already exist keep their mode and their files"""
    host, mountpoint = tmp_path / "host", tmp_path / "rootfs" / "data"
    host.mkdir(mode=0o700)
    (host / "keep.txt").write_text("precious")
    mountpoint.parent.mkdir()
    os.chmod(mountpoint.parent, 0o711)
    before = snapshot(tmp_path)
    setup_volume(host, mountpoint)
    assert mode(host) == 0o700, (
        f"{host} existed with mode 0700 and now has {mode(host):04o}: only chmod what you create")
    assert mode(mountpoint.parent) == 0o711, (
        f"{mountpoint.parent} existed with mode 0711 and now has {mode(mountpoint.parent):04o}")
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before, \
        "something that existed before the call was changed"
    assert (host / "keep.txt").read_text() == "precious"


@pytest.mark.points(3, section="a-file-in-the-way")
@pytest.mark.parametrize("which", ["host", "mount-point", "parent"])
def test_a_file_in_the_way_raises_not_a_directory_error(tmp_path, which):
    """A file where a directory is expected raises NotADirectoryError, and nothing is created"""
    host, mountpoint = tmp_path / "host" / "vol", tmp_path / "rootfs" / "vol"
    in_the_way = {"host": host, "mount-point": mountpoint, "parent": host.parent}[which]
    in_the_way.parent.mkdir(parents=True, exist_ok=True)
    in_the_way.write_text("not a directory")
    before = snapshot(tmp_path)
    with pytest.raises(NotADirectoryError) as raised:
        setup_volume(host, mountpoint)
    assert str(in_the_way) in str(raised.value), (
        f"the error must name the path that is in the way ({in_the_way}); it said: {raised.value}")
    assert snapshot(tmp_path) == before, (
        "NotADirectoryError was raised, but something was created first: check both paths "
        "before creating anything")


@pytest.mark.points(2, section="what-to-do")
def test_calling_twice_changes_nothing(tmp_path):
    """A second call with the same paths succeeds and changes nothing"""
    host, mountpoint = tmp_path / "host", tmp_path / "rootfs" / "data"
    setup_volume(host, mountpoint)
    before = snapshot(tmp_path)
    setup_volume(host, mountpoint)
    assert snapshot(tmp_path) == before


@pytest.mark.points(3, section="what-to-do")
@pytest.mark.parametrize("name", ["with space", "tab\there", "new\nline", "back\\slash",
                                  "données-é中", "long-" + "x" * 250],
                         ids=["space", "tab", "newline", "backslash", "non-ascii", "long"])
def test_awkward_names(tmp_path, name):
    """Names with spaces, tabs, newlines, backslashes, non-ASCII and 255 bytes work"""
    host = tmp_path / name / name
    mountpoint = tmp_path / "rootfs" / name / name
    setup_volume(host, mountpoint)
    assert host.is_dir() and mountpoint.is_dir(), f"not created: {host!s} and {mountpoint!s}"
    assert mode(host) == mode(mountpoint) == 0o755


@pytest.mark.points(2, section="why-two-directories")
def test_creates_directories_and_mounts_nothing(tmp_path):
    """setup_volume only creates directories: mounting is step 2's job"""
    host, mountpoint = tmp_path / "host", tmp_path / "rootfs" / "data"
    setup_volume(host, mountpoint)
    assert host.is_dir() and mountpoint.is_dir(), "both directories must exist after the call"
    assert not is_mountpoint(mountpoint) and not is_mountpoint(host), \
        "setup_volume mounted something: leave mounting to step 2"
