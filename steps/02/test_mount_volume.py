"""Graded checks of step 2: ``mount_volume`` bind mounts a volume.

Run them with ``pytest steps/02``. Each check runs your code in a throwaway mount namespace: what it
mounts goes away with the namespace, so the checks may leave mounts behind. What the checks say
(their titles, the reasons they fail) is in ``messages.toml`` beside this file, in English and
French.
"""

import errno
import os
import stat

import pytest

from mountlab import messages, syscalls
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
say = messages.beside(__file__)


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
    source = make_source(tmp_path)
    target = tmp_path / "rootfs" / "data"
    target.mkdir(parents=True)  # as step 1 leaves it
    if paths == "relative":
        os.chdir(tmp_path)
        mount_volume("host/data", "rootfs/data")
    else:
        mount_volume(source, target)
    assert mount_count(target) == 1, say("nothing_mounted", target=target)
    assert same_file(source, target), say("not_a_bind", target=target, source=source)
    assert (target / "from-host.txt").read_text() == "from the host\n", \
        say("host_file_not_seen", target=target)
    (target / "from-container.txt").write_text("written in the container\n")
    assert (source / "from-container.txt").read_text() == "written in the container\n", \
        say("write_not_seen")


@pytest.mark.points(3, section="the-mount-point")
@pytest.mark.parametrize("kind", ["directory", "file"])
def test_target_is_created_with_the_right_type_and_mode(tmp_path, kind):
    source = make_source(tmp_path, kind)
    target = tmp_path / "rootfs" / "etc" / "app" / source.name
    with umask(0o077):
        mount_volume(source, target)
    assert mount_count(target) == 1 and same_file(source, target), \
        say("not_bind_mounted", source=source, target=target)
    for parent in (tmp_path / "rootfs", tmp_path / "rootfs" / "etc", target.parent):
        assert mode(parent) == 0o755, say("parent_mode", path=parent, mode=mode(parent))
    # While mounted, the target shows the source's inode: unmount to see the mount point itself.
    syscalls.umount2(target)
    want_type, want_mode = ((stat.S_ISDIR, 0o755) if kind == "directory" else (stat.S_ISREG, 0o644))
    assert want_type(os.lstat(target).st_mode), say(f"mount_point_type.{kind}", target=target)
    assert mode(target) == want_mode, say("mount_point_mode", mode=mode(target), want=want_mode)
    if kind == "file":
        assert os.path.getsize(target) == 0, say("mount_point_not_empty")


@pytest.mark.points(3, section="a-missing-source")
@pytest.mark.parametrize("target_exists", [False, True], ids=["new-target", "existing-target"])
def test_missing_source_raises_and_creates_nothing(tmp_path, target_exists):
    source = tmp_path / "host" / "typo"
    target = tmp_path / "rootfs" / "data"
    if target_exists:
        target.mkdir(parents=True)
    before = snapshot(tmp_path)
    error = error_from(lambda: mount_volume(source, target), FileNotFoundError,
                       say("missing_source_no_error", source=source))
    assert names(error, source), say("name_missing_source", source=source, said=error)
    assert not os.path.lexists(source), say("source_created", source=source)
    assert snapshot(tmp_path) == before, say("created_before_raising")
    assert mounts_under(tmp_path) == [], say("mounted_without_source")


@pytest.mark.points(2, section="recursive-binds")
def test_submounts_come_along(tmp_path):
    source = make_source(tmp_path)
    submount = with_submount(source)
    (tmp_path / "rootfs").mkdir()  # the rootfs exists, the mount point does not yet
    target = tmp_path / "rootfs" / "data"
    mount_volume(source, target)
    assert (target / "cache" / "cached.txt").exists(), say(
        "submount_missing", path=target / "cache", submount=submount)
    assert mount_count(target / "cache") == 1 and same_file(submount, target / "cache"), say(
        "submount_not_same", path=target / "cache", submount=submount)


@pytest.mark.points(3, section="read-only-needs-two-calls")
@pytest.mark.parametrize("kind", ["directory", "file"])
def test_read_only_refuses_writes_and_source_stays_writable(tmp_path, kind):
    source = make_source(tmp_path, kind)
    target = tmp_path / "rootfs" / source.name
    mount_volume(source, target, read_only=True)
    assert mount_count(target) == 1 and same_file(source, target), \
        say("not_bind_mounted", source=source, target=target)
    refused = write_fails_with_erofs(target) if kind == "directory" else \
        append_fails_with_erofs(target)
    assert refused, say("write_not_refused", target=target)
    assert find(target)[-1].read_only, say("not_ro_in_mountinfo", target=target)
    if kind == "directory":
        (source / "later.txt").write_text("written on the host\n")
        seen = target / "later.txt"
    else:
        with open(source, "a") as f:
            f.write("written on the host\n")
        seen = target
    assert "written on the host" in seen.read_text(), \
        say("source_not_writable", source=source, target=target)


@pytest.mark.points(2, section="read-only-submounts")
def test_read_only_covers_submounts(tmp_path):
    source = make_source(tmp_path)
    submount = with_submount(source)
    (tmp_path / "rootfs").mkdir()  # the rootfs exists, the mount point does not yet
    target = tmp_path / "rootfs" / "data"
    mount_volume(source, target, read_only=True)
    assert write_fails_with_erofs(target), say("not_read_only", target=target)
    assert (target / "cache" / "cached.txt").exists(), \
        say("submount_lost", submount=submount, target=target)
    assert write_fails_with_erofs(target / "cache"), say("submount_writable",
                                                         path=target / "cache")
    assert not write_fails_with_erofs(submount), \
        say("source_submount_read_only", submount=submount)


@pytest.mark.points(1, section="keep-the-other-flags")
def test_read_only_keeps_nosuid_nodev_noexec(tmp_path):
    source = tmp_path / "host"
    source.mkdir()
    syscalls.mount("tmpfs", source, "tmpfs",
                   syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC, "size=1m")
    target = tmp_path / "rootfs" / "data"
    mount_volume(source, target, read_only=True)
    options = set(find(target)[-1].options)
    assert "ro" in options, say("not_ro_options", target=target, options=sorted(options))
    lost = {"nosuid", "nodev", "noexec"} - options
    assert not lost, say("flags_lost", target=target, flags=", ".join(sorted(lost)))


@pytest.mark.points(3, section="calling-twice")
@pytest.mark.parametrize("case", ["directory", "file", "read-only"])
def test_second_call_does_not_stack(tmp_path, case):
    source = make_source(tmp_path, "file" if case == "file" else "directory")
    target = tmp_path / "rootfs" / source.name
    read_only = case == "read-only"
    mount_volume(source, target, read_only=read_only)
    mount_volume(source, target, read_only=read_only)
    count = mount_count(target)
    assert count == 1, say("stacked", count=count, target=target)
    assert same_file(source, target), say("not_bind_mounted", source=source, target=target)


@pytest.mark.points(2, section="something-else-is-mounted")
@pytest.mark.parametrize("other", ["tmpfs", "another-directory"])
def test_something_else_mounted_raises_volume_error(tmp_path, other):
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
                       say(f"other_mounted_no_error.{other}", target=target))
    assert names(error, source) and names(error, target), say("name_both", said=error)
    assert mount_count(target) == 1, say("stacked_on_other")
    if other == "tmpfs":
        assert find(target)[0].fstype == "tmpfs", say("other_changed")
    else:
        assert same_file(elsewhere, target), say("other_changed")


@pytest.mark.points(2, section="file-or-directory")
@pytest.mark.parametrize("case", ["file-on-directory", "directory-on-file"])
def test_file_and_directory_mismatch(tmp_path, case):
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
    wanted = say("or").join(e.__name__ for e in expected)
    error = error_from(lambda: mount_volume(source, target), OSError,
                       say(f"mismatch_no_error.{case}", wanted=wanted))
    assert isinstance(error, expected), \
        say("expected_got", wanted=wanted, got=type(error).__name__, said=error)
    assert names(error, source) and names(error, target), say("name_both", said=error)
    if not isinstance(error, VolumeError):
        assert error.filename == str(target), say("filename_is_target", wanted=wanted,
                                                  target=str(target), got=error.filename)
    assert mount_count(target) == 0, say("mounted_on", target=target)
    assert snapshot(tmp_path) == before, say("target_changed")


@pytest.mark.points(1, section="what-to-do")
@pytest.mark.parametrize("name", ["with space", "tab\there", "new\nline", "back\\slash",
                                  "données-é中", "long-" + "x" * 250],
                         ids=["space", "tab", "newline", "backslash", "non-ascii", "long"])
def test_awkward_names(tmp_path, name):
    source = tmp_path / name / name
    source.mkdir(parents=True)
    target = tmp_path / "rootfs" / name / name
    mount_volume(source, target)
    assert same_file(source, target), say("not_bind_mounted", source=source, target=target)
    assert [m.mountpoint for m in find(target)] == [os.path.realpath(target)], \
        say("not_one_mount", target=target)
