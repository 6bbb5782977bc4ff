"""Graded checks of step 3: ``unmount_volume`` takes a volume down without losing a file.

Run them with ``pytest steps/03``. Each check runs your code in a throwaway mount namespace, sets up
its own mounts there, and looks at the kernel's mount table (/proc/self/mountinfo) afterwards.
"""

import errno
import inspect
import os
import time

import pytest

from mountlab import syscalls
from mountlab.errors import MountBusyError, VolumeError
from mountlab.grading.checks import bind, holding, mount_count, snapshot, tmpfs
from mountlab.impl import step
from mountlab.sandbox.remote import in_user_namespace

# What step 4 relies on: unmount_volume(target, *, timeout=2.5, lazy=False).
_P = inspect.Parameter
SIGNATURE = [("target", _P.POSITIONAL_OR_KEYWORD, _P.empty), ("timeout", _P.KEYWORD_ONLY, 2.5),
             ("lazy", _P.KEYWORD_ONLY, False)]


def unmount_volume(target, **options):
    return step(3).unmount_volume(str(target), **options)


def volume(path, content="precious"):
    """A host directory holding a file: the data that must survive every unmount."""
    path.mkdir(parents=True)
    (path / "data.txt").write_text(content)
    return path


def mounted_volume(tmp_path, name="ctr"):
    """A volume bind-mounted on an empty mount point, as step 2 leaves it."""
    source, target = volume(tmp_path / "host"), tmp_path / name
    target.mkdir()
    bind(source, target)
    return source, target


def still_mounted(target):
    return mount_count(target) > 0


def unmount_all(target):
    """The check's own clean-up of the mounts it made itself."""
    while still_mounted(target):
        syscalls.umount2(target)


@pytest.mark.points(2, section="what-to-do")
def test_unmounts_and_removes_the_mount_point(tmp_path):
    """The volume is unmounted, the mount point removed, and the host's files kept"""
    source, target = mounted_volume(tmp_path)
    before = snapshot(source)
    unmount_volume(target)
    assert not still_mounted(target), f"{target} is still in /proc/self/mountinfo"
    parameters = inspect.signature(step(3).unmount_volume).parameters.values()
    assert [(p.name, p.kind, p.default) for p in parameters] == SIGNATURE, \
        "keep the signature the skeleton gives: unmount_volume(target, *, timeout=2.5, lazy=False)"
    assert not os.path.lexists(target), f"the mount point {target} was not removed (os.rmdir)"
    assert snapshot(source) == before, "the volume's host files changed while unmounting"


@pytest.mark.points(1, section="already-done")
def test_not_mounted_is_not_an_error(tmp_path):
    """A mount point that is not mounted (cleanup run twice) is removed without error"""
    target = tmp_path / "ctr"
    target.mkdir()
    unmount_volume(target)
    assert not os.path.lexists(target), (
        f"{target} is not mounted (umount2 says EINVAL): the unmount is already done, but the "
        "empty mount point must still be removed")


@pytest.mark.points(1, section="already-done")
def test_missing_path_is_not_an_error(tmp_path):
    """A path that does not exist is not an error, and nothing is created"""
    before = snapshot(tmp_path)
    unmount_volume(tmp_path / "gone" / "ctr")
    assert snapshot(tmp_path) == before, "unmount_volume created something for a missing path"


@pytest.mark.points(2, section="stacked-and-nested-mounts")
def test_stacked_mounts_are_all_removed(tmp_path):
    """Several mounts stacked on the same path are all unmounted"""
    source, target = mounted_volume(tmp_path)
    tmpfs(target)
    bind(volume(tmp_path / "other"), target)
    assert mount_count(target) == 3
    before = snapshot(source)
    unmount_volume(target, timeout=0.3)
    assert mount_count(target) == 0, (
        f"{mount_count(target)} of 3 stacked mounts are still on {target}: one umount2 removes "
        "only the top one; repeat until it answers EINVAL")
    assert not os.path.lexists(target), f"the mount point {target} was not removed"
    assert snapshot(source) == before


@pytest.mark.points(2, section="stacked-and-nested-mounts")
def test_nested_mounts_are_removed_deepest_first(tmp_path):
    """Mounts below the target are unmounted first, the deepest first"""
    source, target = mounted_volume(tmp_path)
    tmpfs(target / "a")
    tmpfs(target / "a" / "b")
    bind(volume(tmp_path / "cache"), target / "a" / "b")
    tmpfs(target / "c")
    before = snapshot(tmp_path / "cache")
    unmount_volume(target, timeout=0.3)
    left = [path for path in (target / "a" / "b", target / "a", target / "c", target)
            if still_mounted(path)]
    assert not left, f"still mounted: {', '.join(map(str, left))}"
    assert not os.path.lexists(target), f"the mount point {target} was not removed"
    assert snapshot(tmp_path / "cache") == before
    assert (source / "data.txt").read_text() == "precious"


@pytest.mark.points(3, section="busy-mounts")
@pytest.mark.timeout(5)
def test_ebusy_is_retried_until_the_holder_goes(tmp_path):
    """A busy mount is tried again, sleeping in between, until its user goes away"""
    source, target = mounted_volume(tmp_path)
    step(3)  # load your module first: only the call is timed
    with holding(target, release_after=0.2) as holder:
        start = time.monotonic()
        unmount_volume(target, timeout=2)
        elapsed = time.monotonic() - start
        assert not holder.has_cwd(), (
            f"unmount_volume returned while PID {holder.pid} still had its working directory in "
            "the volume: a real umount2 cannot succeed then; was it detached (MNT_DETACH) "
            "without lazy=True?")
    assert not still_mounted(target), f"{target} is still mounted"
    assert not os.path.lexists(target), f"the mount point {target} was not removed"
    assert elapsed < 0.2 + 0.5, (
        f"the holder left after 0.2 s but unmount_volume took {elapsed:.2f} s: try again more "
        "often (sleep at most about 0.1 s between tries)")
    assert (source / "data.txt").read_text() == "precious"


@pytest.mark.points(3, section="busy-mounts")
def test_busy_past_the_timeout_raises_mount_busy_error(tmp_path):
    """Still busy at the timeout: MountBusyError names the PIDs, and nothing is unmounted or lost"""
    source, target = mounted_volume(tmp_path)
    before = snapshot(source)
    with holding(target) as holder, holding(target / "data.txt", open_file=True) as opener, \
            open(target / "data.txt") as opened:
        with pytest.raises(MountBusyError) as raised:
            unmount_volume(target, timeout=0.1)
        assert still_mounted(target), (
            f"{target} is no longer mounted: without lazy=True a busy volume must stay mounted "
            "(MNT_DETACH only when the caller asks for it)")
        assert opened.read() == "precious"
    unmount_all(target)
    err = raised.value
    assert err.errno == errno.EBUSY
    assert err.filename == os.path.realpath(target), \
        f"MountBusyError must name the busy path {target}; it names {err.filename!r}"
    assert set(err.pids) == {holder.pid, opener.pid}, (
        f"PID {holder.pid} has its working directory in the volume and PID {opener.pid} has a "
        f"file open in it; MountBusyError.pids is {err.pids}: look at /proc/PID/cwd, "
        "/proc/PID/root and /proc/PID/fd/*")
    assert snapshot(source) == before, (
        "the volume's host files changed after a failed unmount: never delete through a mount")


@pytest.mark.points(2, section="lazy-unmount")
def test_lazy_detaches_a_busy_mount(tmp_path):
    """With lazy=True a mount still busy at the timeout is detached; its user keeps its files"""
    source, target = mounted_volume(tmp_path)
    with holding(target) as holder:
        unmount_volume(target, timeout=0, lazy=True)
        assert not still_mounted(target), (
            f"{target} is still mounted: with lazy=True, detach it with MNT_DETACH once the "
            "timeout has passed")
        assert not os.path.lexists(target), f"the mount point {target} was not removed"
        assert "data.txt" in holder.cwd_entries(), (
            "the process using the volume lost its files: a lazy unmount only detaches the mount "
            "from the tree; its users keep it until they let go")
    assert (source / "data.txt").read_text() == "precious"


@pytest.mark.points(1, section="busy-mounts")
@pytest.mark.parametrize("lazy", [False, True], ids=["not-lazy", "lazy"])
def test_the_timeout_is_honoured(tmp_path, lazy):
    """A busy mount is retried for `timeout` seconds, not less and not much more"""
    _, target = mounted_volume(tmp_path)
    step(3)  # load your module first: only the call is timed
    with holding(target):
        start = time.monotonic()
        try:
            unmount_volume(target, timeout=0.2, lazy=lazy)
        except MountBusyError:
            assert not lazy, "MountBusyError with lazy=True: detach the mount instead"
        else:
            assert lazy, "the volume is busy: without lazy=True, raise MountBusyError"
        elapsed = time.monotonic() - start
    assert elapsed >= 0.2, (
        f"unmount_volume gave up after {elapsed:.2f} s with timeout=0.2: keep trying until the "
        "deadline")
    assert elapsed < 0.2 + 0.5, (
        f"unmount_volume took {elapsed:.2f} s with timeout=0.2: stop at the deadline "
        "(time.monotonic() + timeout)")
    assert still_mounted(target) != lazy
    unmount_all(target)


@pytest.mark.points(2, section="same-filesystem-bind-mounts")
def test_same_filesystem_bind_mount_is_unmounted(tmp_path):
    """A bind mount of a directory of the same filesystem is seen and unmounted"""
    source, target = mounted_volume(tmp_path)
    assert os.stat(source).st_dev == os.stat(tmp_path).st_dev
    assert not os.path.ismount(target)  # the trap: same device as its parent
    unmount_volume(target)
    assert not still_mounted(target), (
        f"{target} is still mounted: os.path.ismount compares devices and misses a bind mount of "
        "the same filesystem; use mountinfo.is_mountpoint")
    assert not os.path.lexists(target), f"the mount point {target} was not removed"
    assert (source / "data.txt").read_text() == "precious"


@pytest.mark.points(1, section="what-to-do")
def test_file_mount_point_is_unmounted_and_unlinked(tmp_path):
    """A file bind-mounted on an empty file is unmounted, and the empty file removed"""
    source, target = tmp_path / "host.conf", tmp_path / "ctr.conf"
    source.write_text("precious")
    target.touch()
    bind(source, target)
    unmount_volume(target)
    assert not still_mounted(target), f"{target} is still mounted"
    assert not os.path.lexists(target), f"the empty file {target} was not removed (os.unlink)"
    assert source.read_text() == "precious"


@pytest.mark.points(1, section="never-delete-through-a-mount")
@pytest.mark.parametrize("kind", ["directory", "file"])
def test_a_mount_point_with_data_is_left_alone(tmp_path, kind):
    """A mount point that holds data of its own is unmounted but kept, with its data"""
    source = volume(tmp_path / "host")
    target = tmp_path / "ctr"
    if kind == "directory":
        volume(target, "from the image")
        own_data = target / "data.txt"
        bind(source, target)
    else:
        target.write_text("from the image")
        own_data = target
        bind(source / "data.txt", target)
    unmount_volume(target)
    assert not still_mounted(target), f"{target} is still mounted"
    assert own_data.read_text() == "from the image", (
        f"{target} held data of its own under the mount: remove only an empty mount point")
    assert (source / "data.txt").read_text() == "precious"


@pytest.mark.points(2, section="never-delete-through-a-mount")
def test_still_mounted_after_umount_raises_and_deletes_nothing(tmp_path):
    """A mount umount2 will not remove (EINVAL, locked) raises VolumeError and deletes nothing"""
    source, target = mounted_volume(tmp_path)
    before = snapshot(source)
    raised = None
    # In a user namespace below, with a mount namespace of its own: the mount is locked there.
    with in_user_namespace(mount_namespace=True):
        try:
            unmount_volume(target, timeout=0.1)
        except Exception as exc:  # noqa: BLE001
            raised = exc
    assert snapshot(source) == before, (
        "files of the volume were deleted although it was still mounted: check "
        "mountinfo.is_mountpoint before removing anything, and remove only with os.rmdir")
    assert isinstance(raised, VolumeError), (
        f"umount2 answered EINVAL but {target} is still a mount point (a locked mount): raise "
        f"VolumeError and remove nothing; got {raised!r}")
    assert raised.filename == os.path.realpath(target), \
        f"the error must name {target}; it names {raised.filename!r}"
    unmount_all(target)


@pytest.mark.points(1, section="already-done")
def test_other_errors_are_raised(tmp_path):
    """Another error of umount2 (here EPERM) is raised as it is, and nothing is removed"""
    source, target = mounted_volume(tmp_path)
    before = snapshot(tmp_path)
    raised = None
    # In a user namespace of its own, a process may not unmount its mount namespace's mounts.
    with in_user_namespace(mount_namespace=False):
        try:
            unmount_volume(target, timeout=0.3)
        except Exception as exc:  # noqa: BLE001
            raised = exc
    assert isinstance(raised, OSError) and raised.errno == errno.EPERM, (
        "umount2 answered EPERM (not allowed): only EBUSY is worth retrying and only EINVAL or "
        f"ENOENT mean done; let any other error through. Got {raised!r}")
    assert still_mounted(target)
    assert snapshot(tmp_path) == before
    unmount_all(target)


@pytest.mark.points(1, section="what-to-do")
@pytest.mark.parametrize("name", ["with space", "tab\there", "new\nline", "back\\slash",
                                  "données-é中", "long-" + "x" * 250],
                         ids=["space", "tab", "newline", "backslash", "non-ascii", "long"])
def test_awkward_names(tmp_path, name):
    """Paths with spaces, tabs, newlines, backslashes, non-ASCII and 255 bytes work"""
    source, target = volume(tmp_path / "host"), tmp_path / name / name
    target.mkdir(parents=True)
    bind(source, target)
    tmpfs(target / "sub")
    unmount_volume(target, timeout=0.3)
    assert not still_mounted(target) and not still_mounted(target / "sub"), \
        f"{target!s} is still mounted (mountinfo escapes these characters as \\040, \\011...)"
    assert not os.path.lexists(target), f"the mount point {target!s} was not removed"
    assert (source / "data.txt").read_text() == "precious"
