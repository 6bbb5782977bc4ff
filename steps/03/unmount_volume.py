"""Step 3: unmount a volume safely. Read README.md beside this file first."""

import errno  # noqa: F401  (you will need errno.EBUSY, errno.EINVAL, errno.ENOENT)
import os  # noqa: F401
import time  # noqa: F401

from mountlab import mountinfo, syscalls  # noqa: F401
from mountlab.errors import MountBusyError, VolumeError  # noqa: F401


def unmount_volume(target: str, *, timeout: float = 2.5, lazy: bool = False) -> None:
    """Unmount everything mounted at or below ``target``, then remove the mount point.

    A busy mount (EBUSY) is tried again for up to ``timeout`` seconds; after that it is detached
    (MNT_DETACH) if ``lazy``, else MountBusyError names the processes that hold it. A path that is
    not mounted, or does not exist, is not an error. The mount point is removed only when it is no
    longer mounted and empty: files are never deleted.
    """
    # TODO 1: call syscalls.umount2(target) again and again until it raises OSError with EINVAL
    #         (mounts can be stacked); ENOENT (no such path) is fine too. On EBUSY, mounts below
    #         target may be what keeps it busy: unmount those first, the same way
    #         (mountinfo.mounts_under; read the table only then, it costs a pass over every mount).
    # TODO 2: on EBUSY, sleep a little (longer each time) and try again until the deadline
    #         (time.monotonic() at the start + timeout). Then, if lazy, detach it with
    #         umount2(path, syscalls.MNT_DETACH); otherwise raise MountBusyError(path, pids) with
    #         the PIDs whose /proc/PID/cwd, /proc/PID/root or /proc/PID/fd/* lead inside path.
    # TODO 3: if mountinfo.is_mountpoint(target) still says True, raise
    #         VolumeError(errno.EBUSY, "<what happened>", target) and delete nothing. Otherwise
    #         remove the mount point: os.rmdir if it is an empty directory, os.unlink if it is an
    #         empty file; leave anything with data in it alone. Never shutil.rmtree.
    raise NotImplementedError("unmount_volume: fill in the TODOs")
