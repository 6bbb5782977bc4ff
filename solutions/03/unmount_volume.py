"""Step 3: unmount a volume safely (reference solution)."""

import errno
import glob
import os
import time

from mountlab import mountinfo, syscalls
from mountlab.errors import MountBusyError, VolumeError


def unmount_volume(target: str, *, timeout: float = 2.5, lazy: bool = False) -> None:
    """Unmount everything mounted at or below ``target``, then remove the mount point.

    A busy mount (EBUSY) is tried again for up to ``timeout`` seconds; after that it is detached
    (MNT_DETACH) if ``lazy``, else MountBusyError names the processes that hold it. A path that is
    not mounted, or does not exist, is not an error. The mount point is removed only when it is no
    longer mounted and empty: files are never deleted.
    """
    path = os.path.realpath(target)  # mountinfo shows canonical paths
    _unmount_all(path, time.monotonic() + timeout, lazy)
    # umount2 also answers EINVAL for a mount it refuses to unmount (a locked mount in a user
    # namespace): ask the mount table before deleting anything.
    if mountinfo.is_mountpoint(path):
        raise VolumeError(errno.EBUSY, "still a mount point after umount2: not removed", path)
    # rmdir and unlink of an empty mount point only: whatever holds data is left alone.
    if os.path.isdir(path) and not os.listdir(path):
        os.rmdir(path)
    elif os.path.isfile(path) and os.path.getsize(path) == 0:
        os.unlink(path)


def _unmount_all(mountpoint: str, deadline: float, lazy: bool) -> None:
    """umount2 ``mountpoint`` until nothing is mounted there any more (mounts can be stacked)."""
    delay = 0.01
    while True:
        try:
            syscalls.umount2(mountpoint)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOENT):
                return  # not (or no longer) a mount point, or no such path: done
            if exc.errno != errno.EBUSY:
                raise
            # Mounts below keep a mount busy: they go first (each the same way, so the deepest
            # go first of all). The mount table is read only now, on EBUSY, so that unmounting
            # stays cheap beside a thousand mounts.
            below = {m.mountpoint for m in mountinfo.mounts_under(mountpoint)} - {mountpoint}
            if below:
                for inner in below:
                    _unmount_all(inner, deadline, lazy)
            elif time.monotonic() < deadline:
                # In use: give its users a moment, a little longer each time (at most 0.1 s,
                # which is also the most the deadline can be overshot).
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
            elif lazy:
                # Detach it now; the kernel frees it when its last user lets go.
                syscalls.umount2(mountpoint, syscalls.MNT_DETACH)
            else:
                raise MountBusyError(mountpoint, _holders(mountpoint)) from None


def _holders(mountpoint: str) -> list[int]:
    """The PIDs whose working directory, root or open files are at or below ``mountpoint``."""
    inside = mountpoint.rstrip("/") + "/"
    pids = set()
    for link in (glob.glob("/proc/[0-9]*/cwd") + glob.glob("/proc/[0-9]*/root")
                 + glob.glob("/proc/[0-9]*/fd/*")):
        try:
            where = os.readlink(link)
        except OSError:
            continue  # closed or ended while we looked (a zombie has no cwd)
        if where == mountpoint or where.startswith(inside):
            pids.add(int(link.split("/")[2]))
    return sorted(pids)
