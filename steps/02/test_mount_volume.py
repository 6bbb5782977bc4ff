"""Graded checks of step 2: ``mount_volume`` bind mounts a volume.

Run them with ``pytest steps/02``. Each check runs your code in a throwaway mount namespace: what it
mounts goes away with the namespace, so the checks may leave mounts behind.
"""

import errno
import os
import stat

import pytest

from mountlab import syscalls
from mountlab.errors import VolumeError
from mountlab.grading.checks import (
    bind,
    mount_count,
    same_file,
    snapshot,
    tmpfs,
    umask,
    write_fails_with_erofs,
)
from mountlab.impl import step
from mountlab.mountinfo import find, mounts_under

pytestmark = pytest.mark.leaves_mounts


def mount_volume(source, target, **kwargs):
    return step(2).mount_volume(str(source), str(target), **kwargs)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def make_source(tmp_path, kind="directory"):
    """A volume's host side: a directory holding a file, or a file."""
    if kind == "file":
        source = tmp_path / "host" / "app.conf"
        source.parent.mkdir(parents=True)
        source.write_text("from the host\n")
    else:
        source = tmp_path / "host" / "data"
        source.mkdir(parents=True)
        (source / "from-host.txt").write_text("from the host\n")
    return source


def with_submount(source):
    """Mount a tmpfs at ``source/cache`` holding a file: a mount below the volume's source."""
    tmpfs(source / "cache")
    (source / "cache" / "cached.txt").write_text("in the submount\n")
    return source / "cache"


def append_fails_with_erofs(path):
    try:
        with open(path, "a") as f:
            f.write("x")
    except OSError as exc:
        return exc.errno == errno.EROFS
    return False


def names(exc, path):
    return str(path) in str(exc)


def error_from(call, expected, why):
    """The exception ``call()`` raises; an AssertionError that says ``why`` when it returns."""
    try:
        call()
    except expected as exc:
        return exc
    raise AssertionError(why)


@pytest.mark.points(3, section="what-to-do")
@pytest.mark.parametrize("paths", ["absolute", "relative"])
def test_bind_shows_the_same_files_both_ways(tmp_path, paths):
    """The target shows the source's files, and writes are seen on both sides"""
    source = make_source(tmp_path)
    target = tmp_path / "rootfs" / "data"
    target.mkdir(parents=True)  # as step 1 leaves it
    if paths == "relative":
        os.chdir(tmp_path)
        mount_volume("host/data", "rootfs/data")
    else:
        mount_volume(source, target)
    assert mount_count(target) == 1, f"nothing is mounted on {target}: call syscalls.mount"
    assert same_file(source, target), (
        f"{target} is a mount point but does not show the inode of {source}: bind it with "
        "MS_BIND, do not mount a new filesystem")
    assert (target / "from-host.txt").read_text() == "from the host\n"
    (target / "from-container.txt").write_text("written in the container\n")
    assert (source / "from-container.txt").read_text() == "written in the container\n", \
        "a file written through the target must appear in the source: one inode, two paths"


@pytest.mark.points(3, section="the-mount-point")
@pytest.mark.parametrize("kind", ["directory", "file"])
def test_target_is_created_with_the_right_type_and_mode(tmp_path, kind):
    """A missing target is created with its parents: a directory 0755, or an empty file 0644"""
    source = make_source(tmp_path, kind)
    target = tmp_path / "rootfs" / "etc" / "app" / source.name
    with umask(0o077):
        mount_volume(source, target)
    assert mount_count(target) == 1 and same_file(source, target), \
        f"{source} is not bind mounted on {target}"
    for parent in (tmp_path / "rootfs", tmp_path / "rootfs" / "etc", target.parent):
        assert mode(parent) == 0o755, (
            f"the parent {parent} was created with mode {mode(parent):04o} under umask 077, "
            "not 0755")
    # While mounted, the target shows the source's inode: unmount to see the mount point itself.
    syscalls.umount2(target)
    want_type, want_mode = ((stat.S_ISDIR, 0o755) if kind == "directory" else (stat.S_ISREG, 0o644))
    assert want_type(os.lstat(target).st_mode), \
        f"the source is a {kind}: the mount point {target} must be a {kind} too"
    assert mode(target) == want_mode, (
        f"the mount point was created with mode {mode(target):04o} under umask 077, not "
        f"{want_mode:04o}: mkdir's and open's modes are filtered by the umask")
    if kind == "file":
        assert os.path.getsize(target) == 0, "the mount point of a file must be an empty file"


@pytest.mark.points(3, section="a-missing-source")
@pytest.mark.parametrize("target_exists", [False, True], ids=["new-target", "existing-target"])
def test_missing_source_raises_and_creates_nothing(tmp_path, target_exists):
    """A missing source raises FileNotFoundError naming it, and nothing is created or mounted"""
    source = tmp_path / "host" / "typo"
    target = tmp_path / "rootfs" / "data"
    if target_exists:
        target.mkdir(parents=True)
    before = snapshot(tmp_path)
    error = error_from(lambda: mount_volume(source, target), FileNotFoundError,
                       f"no error although the source {source} does not exist: raise "
                       "FileNotFoundError")
    assert names(error, source), \
        f"the error must name the missing source {source}; it said: {error}"
    assert not os.path.lexists(source), \
        f"{source} was created: a missing source is a mistake to report, not a folder to make"
    assert snapshot(tmp_path) == before, \
        "FileNotFoundError was raised, but something was created first: check the source first"
    assert mounts_under(tmp_path) == [], "something was mounted although the source is missing"


@pytest.mark.points(2, section="recursive-binds")
def test_submounts_come_along(tmp_path):
    """What is mounted below the source is visible below the target (MS_REC)"""
    source = make_source(tmp_path)
    submount = with_submount(source)
    (tmp_path / "rootfs").mkdir()  # the rootfs exists, the mount point does not yet
    target = tmp_path / "rootfs" / "data"
    mount_volume(source, target)
    assert (target / "cache" / "cached.txt").exists(), (
        f"{target / 'cache'} looks empty while {submount} holds a tmpfs: a bind without MS_REC "
        "leaves the submounts behind")
    assert mount_count(target / "cache") == 1 and same_file(submount, target / "cache")


@pytest.mark.points(3, section="read-only-needs-two-calls")
@pytest.mark.parametrize("kind", ["directory", "file"])
def test_read_only_refuses_writes_and_source_stays_writable(tmp_path, kind):
    """read_only=True: writes through the target fail with EROFS; the source stays writable"""
    source = make_source(tmp_path, kind)
    target = tmp_path / "rootfs" / source.name
    mount_volume(source, target, read_only=True)
    assert mount_count(target) == 1 and same_file(source, target), \
        f"{source} is not bind mounted on {target}"
    refused = write_fails_with_erofs(target) if kind == "directory" else \
        append_fails_with_erofs(target)
    assert refused, (
        f"writing through {target} did not fail with EROFS: the first MS_BIND call ignores "
        "MS_RDONLY, a second call must make the mount read-only")
    assert find(target)[-1].read_only, f"mountinfo does not show {target} as 'ro'"
    if kind == "directory":
        (source / "later.txt").write_text("written on the host\n")
        seen = target / "later.txt"
    else:
        with open(source, "a") as f:
            f.write("written on the host\n")
        seen = target
    assert "written on the host" in seen.read_text(), \
        f"the source {source} must stay writable, and its changes show at {target}"


@pytest.mark.points(2, section="read-only-submounts")
def test_read_only_covers_submounts(tmp_path):
    """read_only=True makes the submounts read-only too, not only the top mount"""
    source = make_source(tmp_path)
    submount = with_submount(source)
    (tmp_path / "rootfs").mkdir()  # the rootfs exists, the mount point does not yet
    target = tmp_path / "rootfs" / "data"
    mount_volume(source, target, read_only=True)
    assert write_fails_with_erofs(target), f"{target} is not read-only"
    assert (target / "cache" / "cached.txt").exists(), \
        f"the submount {submount} is missing under {target}: bind with MS_REC"
    assert write_fails_with_erofs(target / "cache"), (
        f"{target / 'cache'} is still writable: a remount changes only the top mount; "
        "make every mount of the tree read-only")
    assert not write_fails_with_erofs(submount), \
        f"the source's submount {submount} became read-only"


@pytest.mark.points(1, section="keep-the-other-flags")
def test_read_only_keeps_nosuid_nodev_noexec(tmp_path):
    """read_only=True keeps the source's nosuid, nodev and noexec"""
    source = tmp_path / "host"
    source.mkdir()
    syscalls.mount("tmpfs", source, "tmpfs",
                   syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC, "size=1m")
    target = tmp_path / "rootfs" / "data"
    mount_volume(source, target, read_only=True)
    options = set(find(target)[-1].options)
    assert "ro" in options, f"{target} is not read-only (mountinfo says {sorted(options)})"
    lost = {"nosuid", "nodev", "noexec"} - options
    assert not lost, (
        f"{target} lost {', '.join(sorted(lost))}: a remount with MS_RDONLY alone clears the "
        "other flags, so a read-only volume would allow what the source forbids")


@pytest.mark.points(3, section="calling-twice")
@pytest.mark.parametrize("case", ["directory", "file", "read-only"])
def test_second_call_does_not_stack(tmp_path, case):
    """A second call with the same source and target mounts nothing more"""
    source = make_source(tmp_path, "file" if case == "file" else "directory")
    target = tmp_path / "rootfs" / source.name
    read_only = case == "read-only"
    mount_volume(source, target, read_only=read_only)
    mount_volume(source, target, read_only=read_only)
    count = mount_count(target)
    assert count == 1, (
        f"{count} mounts are stacked on {target}: when the same source is already mounted there "
        "(same st_dev and st_ino), do nothing")
    assert same_file(source, target)


@pytest.mark.points(2, section="something-else-is-mounted")
@pytest.mark.parametrize("other", ["tmpfs", "another-directory"])
def test_something_else_mounted_raises_volume_error(tmp_path, other):
    """Something else already mounted on the target raises VolumeError naming both paths"""
    source = make_source(tmp_path)
    target = tmp_path / "rootfs" / "data"
    target.mkdir(parents=True)
    if other == "tmpfs":
        tmpfs(target)
    else:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        bind(elsewhere, target)
    error = error_from(lambda: mount_volume(source, target), VolumeError,
                       f"no error although {other.replace('-', ' ')} is mounted on {target}: "
                       "raise VolumeError rather than mount over it")
    assert names(error, source) and names(error, target), \
        f"the error must name the source and the target; it said: {error}"
    assert mount_count(target) == 1, "a mount was stacked on top of what was there"
    if other == "tmpfs":
        assert find(target)[0].fstype == "tmpfs"
    else:
        assert same_file(elsewhere, target), "what was mounted there must stay as it was"


@pytest.mark.points(2, section="file-or-directory")
@pytest.mark.parametrize("case", ["file-on-directory", "directory-on-file"])
def test_file_and_directory_mismatch(tmp_path, case):
    """A file source on a directory target, or the reverse, raises an error naming both"""
    if case == "file-on-directory":
        source = make_source(tmp_path, "file")
        target = tmp_path / "rootfs" / "app.conf"
        target.mkdir(parents=True)
        expected = (VolumeError, IsADirectoryError)
    else:
        source = make_source(tmp_path)
        target = tmp_path / "rootfs" / "data"
        target.parent.mkdir()
        target.write_text("a file\n")
        expected = (VolumeError, NotADirectoryError)
    before = snapshot(tmp_path)
    wanted = " or ".join(e.__name__ for e in expected)
    error = error_from(lambda: mount_volume(source, target), OSError,
                       f"no error for a {case.replace('-', ' ')}: raise {wanted}")
    assert isinstance(error, expected), \
        f"expected {wanted}, got {type(error).__name__}: {error}"
    assert names(error, source) and names(error, target), \
        f"the error must name the source and the target; it said: {error}"
    if not isinstance(error, VolumeError):
        assert error.filename == str(target), (
            f"the path to change is the target: raise {wanted} with filename={str(target)!r} "
            f"and the source in the message; got filename={error.filename!r}")
    assert mount_count(target) == 0, f"something was mounted on {target}"
    assert snapshot(tmp_path) == before, "the target must be left as it was"


@pytest.mark.points(1, section="what-to-do")
@pytest.mark.parametrize("name", ["with space", "tab\there", "new\nline", "back\\slash",
                                  "données-é中", "long-" + "x" * 250],
                         ids=["space", "tab", "newline", "backslash", "non-ascii", "long"])
def test_awkward_names(tmp_path, name):
    """Names with spaces, tabs, newlines, backslashes, non-ASCII and 255 bytes work"""
    source = tmp_path / name / name
    source.mkdir(parents=True)
    target = tmp_path / "rootfs" / name / name
    mount_volume(source, target)
    assert same_file(source, target), f"{source!s} is not bind mounted on {target!s}"
    assert [m.mountpoint for m in find(target)] == [os.path.realpath(target)], \
        f"mountinfo does not show exactly one mount at {target!s}"
