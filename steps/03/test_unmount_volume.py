"""Graded checks of step 3: ``unmount_volume`` takes a volume down without losing a file.

Run them with ``pytest steps/03``. Each check runs your code in a throwaway mount namespace, sets up
its own mounts there, and looks at the kernel's mount table (/proc/self/mountinfo) afterwards.
What the checks say (their titles, the reasons they fail) is in ``messages.toml`` beside this file,
in English and French.
"""

import errno
import inspect
import os
import time

import pytest

from mountlab import messages, syscalls
from mountlab.errors import MountBusyError, VolumeError
from mountlab.grading.checks import bind, holding, mount_count, seconds, snapshot, tmpfs
from mountlab.impl import step
from mountlab.sandbox.remote import in_user_namespace

say = messages.beside(__file__)

# What step 4 relies on: unmount_volume(target, *, timeout=2.5, lazy=False).
_P = inspect.Parameter
SIGNATURE = [("target", _P.POSITIONAL_OR_KEYWORD, _P.empty), ("timeout", _P.KEYWORD_ONLY, 2.5),
             ("lazy", _P.KEYWORD_ONLY, False)]


# How late past the moment it may return unmount_volume can be: 0.5 s natively, more where the
# kit's own processes are slow (checks.seconds: an emulated processor), but never a second, so
# that retrying a whole second past the deadline always fails.
LATE = min(seconds(0.5), 0.9)


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
    source, target = mounted_volume(tmp_path)
    before = snapshot(source)
    unmount_volume(target)
    assert not still_mounted(target), say("still_in_mountinfo", target=target)
    parameters = inspect.signature(step(3).unmount_volume).parameters.values()
    assert [(p.name, p.kind, p.default) for p in parameters] == SIGNATURE, say("keep_signature")
    assert not os.path.lexists(target), say("not_rmdir", target=target)
    assert snapshot(source) == before, say("host_files_changed")


@pytest.mark.points(1, section="already-done")
def test_not_mounted_is_not_an_error(tmp_path):
    target = tmp_path / "ctr"
    target.mkdir()
    unmount_volume(target)
    assert not os.path.lexists(target), say("not_mounted_still_there", target=target)


@pytest.mark.points(1, section="already-done")
def test_missing_path_is_not_an_error(tmp_path):
    before = snapshot(tmp_path)
    unmount_volume(tmp_path / "gone" / "ctr")
    assert snapshot(tmp_path) == before, say("created_for_missing")


@pytest.mark.points(2, section="stacked-and-nested-mounts")
def test_stacked_mounts_are_all_removed(tmp_path):
    source, target = mounted_volume(tmp_path)
    tmpfs(target)
    bind(volume(tmp_path / "other"), target)
    assert mount_count(target) == 3
    before = snapshot(source)
    unmount_volume(target, timeout=0.3)
    assert mount_count(target) == 0, say("stacked_left", count=mount_count(target),
                                         target=target)
    assert not os.path.lexists(target), say("mount_point_kept", target=target)
    assert snapshot(source) == before, say("host_files_changed")


@pytest.mark.points(2, section="stacked-and-nested-mounts")
def test_nested_mounts_are_removed_deepest_first(tmp_path):
    source, target = mounted_volume(tmp_path)
    tmpfs(target / "a")
    tmpfs(target / "a" / "b")
    bind(volume(tmp_path / "cache"), target / "a" / "b")
    tmpfs(target / "c")
    before = snapshot(tmp_path / "cache")
    unmount_volume(target, timeout=0.3)
    left = [path for path in (target / "a" / "b", target / "a", target / "c", target)
            if still_mounted(path)]
    assert not left, say("nested_left", paths=", ".join(map(str, left)))
    assert not os.path.lexists(target), say("mount_point_kept", target=target)
    assert snapshot(tmp_path / "cache") == before, say("host_files_changed")
    assert (source / "data.txt").read_text() == "precious", \
        say("host_file_lost", path=source / "data.txt")


@pytest.mark.points(3, section="busy-mounts")
@pytest.mark.timeout(5)
def test_ebusy_is_retried_until_the_holder_goes(tmp_path):
    source, target = mounted_volume(tmp_path)
    step(3)  # load your module first: only the call is timed
    with holding(target, release_after=0.2) as holder:
        start = time.monotonic()
        unmount_volume(target, timeout=2)
        elapsed = time.monotonic() - start
        assert not holder.has_cwd(), say("returned_while_held", pid=holder.pid)
    assert not still_mounted(target), say("still_mounted", target=target)
    assert not os.path.lexists(target), say("mount_point_kept", target=target)
    assert elapsed < 0.2 + LATE, say("retry_too_slow", elapsed=elapsed)
    assert (source / "data.txt").read_text() == "precious", \
        say("host_file_lost", path=source / "data.txt")


@pytest.mark.points(3, section="busy-mounts")
def test_busy_past_the_timeout_raises_mount_busy_error(tmp_path):
    source, target = mounted_volume(tmp_path)
    before = snapshot(source)
    with holding(target) as holder, holding(target / "data.txt", open_file=True) as opener, \
            open(target / "data.txt") as opened:
        with pytest.raises(MountBusyError) as raised:
            unmount_volume(target, timeout=0.1)
        assert still_mounted(target), say("busy_not_mounted", target=target)
        assert opened.read() == "precious", say("open_file_lost")
    unmount_all(target)
    err = raised.value
    assert err.errno == errno.EBUSY, say("busy_errno", errno=err.errno)
    assert err.filename == os.path.realpath(target), \
        say("busy_filename", target=target, got=err.filename)
    assert set(err.pids) == {holder.pid, opener.pid}, say(
        "busy_pids", holder=holder.pid, opener=opener.pid, pids=err.pids)
    assert snapshot(source) == before, say("deleted_after_failure")


@pytest.mark.points(2, section="lazy-unmount")
def test_lazy_detaches_a_busy_mount(tmp_path):
    source, target = mounted_volume(tmp_path)
    with holding(target) as holder:
        unmount_volume(target, timeout=0, lazy=True)
        assert not still_mounted(target), say("lazy_still_mounted", target=target)
        assert not os.path.lexists(target), say("mount_point_kept", target=target)
        assert "data.txt" in holder.cwd_entries(), say("lazy_user_lost_files")
    assert (source / "data.txt").read_text() == "precious", \
        say("host_file_lost", path=source / "data.txt")


@pytest.mark.points(1, section="busy-mounts")
@pytest.mark.parametrize("lazy", [False, True], ids=["not-lazy", "lazy"])
def test_the_timeout_is_honoured(tmp_path, lazy):
    _, target = mounted_volume(tmp_path)
    step(3)  # load your module first: only the call is timed
    with holding(target):
        start = time.monotonic()
        try:
            unmount_volume(target, timeout=0.2, lazy=lazy)
        except MountBusyError:
            assert not lazy, say("busy_error_when_lazy")
        else:
            assert lazy, say("busy_not_raised")
        elapsed = time.monotonic() - start
    assert elapsed >= 0.2, say("gave_up_early", elapsed=elapsed)
    assert elapsed < 0.2 + LATE, say("past_deadline", elapsed=elapsed)
    assert still_mounted(target) != lazy, say("lazy_state")
    unmount_all(target)


@pytest.mark.points(2, section="same-filesystem-bind-mounts")
def test_same_filesystem_bind_mount_is_unmounted(tmp_path):
    source, target = mounted_volume(tmp_path)
    assert os.stat(source).st_dev == os.stat(tmp_path).st_dev
    assert not os.path.ismount(target)  # the trap: same device as its parent
    unmount_volume(target)
    assert not still_mounted(target), say("ismount_missed", target=target)
    assert not os.path.lexists(target), say("mount_point_kept", target=target)
    assert (source / "data.txt").read_text() == "precious", \
        say("host_file_lost", path=source / "data.txt")


@pytest.mark.points(1, section="what-to-do")
def test_file_mount_point_is_unmounted_and_unlinked(tmp_path):
    source, target = tmp_path / "host.conf", tmp_path / "ctr.conf"
    source.write_text("precious")
    target.touch()
    bind(source, target)
    unmount_volume(target)
    assert not still_mounted(target), say("still_mounted", target=target)
    assert not os.path.lexists(target), say("empty_file_kept", target=target)
    assert source.read_text() == "precious", say("host_file_lost", path=source)


@pytest.mark.points(1, section="never-delete-through-a-mount")
@pytest.mark.parametrize("kind", ["directory", "file"])
def test_a_mount_point_with_data_is_left_alone(tmp_path, kind):
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
    assert not still_mounted(target), say("still_mounted", target=target)
    assert own_data.read_text() == "from the image", say("own_data_lost", target=target)
    assert (source / "data.txt").read_text() == "precious", \
        say("host_file_lost", path=source / "data.txt")


@pytest.mark.points(2, section="never-delete-through-a-mount")
def test_still_mounted_after_umount_raises_and_deletes_nothing(tmp_path):
    source, target = mounted_volume(tmp_path)
    before = snapshot(source)
    raised = None
    # In a user namespace below, with a mount namespace of its own: the mount is locked there.
    with in_user_namespace(mount_namespace=True):
        try:
            unmount_volume(target, timeout=0.1)
        except Exception as exc:  # noqa: BLE001
            raised = exc
    assert snapshot(source) == before, say("deleted_while_mounted")
    assert isinstance(raised, VolumeError), say("locked_no_error", target=target, got=raised)
    assert raised.filename == os.path.realpath(target), \
        say("error_names", target=target, got=raised.filename)
    unmount_all(target)


@pytest.mark.points(1, section="already-done")
def test_other_errors_are_raised(tmp_path):
    source, target = mounted_volume(tmp_path)
    before = snapshot(tmp_path)
    raised = None
    # In a user namespace of its own, a process may not unmount its mount namespace's mounts.
    with in_user_namespace(mount_namespace=False):
        try:
            unmount_volume(target, timeout=0.3)
        except Exception as exc:  # noqa: BLE001
            raised = exc
    assert isinstance(raised, OSError) and raised.errno == errno.EPERM, \
        say("eperm_swallowed", got=raised)
    assert still_mounted(target), say("eperm_unmounted", target=target)
    assert snapshot(tmp_path) == before, say("eperm_removed")
    unmount_all(target)


@pytest.mark.points(1, section="what-to-do")
@pytest.mark.parametrize("name", ["with space", "tab\there", "new\nline", "back\\slash",
                                  "données-é中", "long-" + "x" * 250],
                         ids=["space", "tab", "newline", "backslash", "non-ascii", "long"])
def test_awkward_names(tmp_path, name):
    source, target = volume(tmp_path / "host"), tmp_path / name / name
    target.mkdir(parents=True)
    bind(source, target)
    tmpfs(target / "sub")
    unmount_volume(target, timeout=0.3)
    assert not still_mounted(target) and not still_mounted(target / "sub"), \
        say("awkward_still_mounted", target=target)
    assert not os.path.lexists(target), say("mount_point_kept", target=target)
    assert (source / "data.txt").read_text() == "precious", \
        say("host_file_lost", path=source / "data.txt")
