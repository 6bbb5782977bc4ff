"""Step 2: bind mount a volume. Read README.md beside this file first."""

import errno  # noqa: F401  (errno.ENOENT, errno.EBUSY, errno.ENOTDIR, errno.EISDIR)
import os  # noqa: F401

from mountlab import mountinfo, syscalls  # noqa: F401
from mountlab.errors import VolumeError  # noqa: F401


def mount_volume(source: str, target: str, *, read_only: bool = False) -> None:
    """Bind mount ``source`` (a directory or a file) on ``target``, submounts included.

    A missing source raises FileNotFoundError and creates nothing. A missing target is created:
    a directory (0755) for a directory source, an empty file (0644) for a file source. With
    ``read_only``, writes through ``target`` and its submounts fail with EROFS. When ``source`` is
    already mounted on ``target`` nothing happens; when something else is, VolumeError.
    """
    # TODO 1: a missing source raises FileNotFoundError(errno.ENOENT, "<what to do>", source)
    #         before anything is created.
    # TODO 2: a missing target: create it (and its parents), a directory 0755 for a directory
    #         source, an empty file 0644 for a file source, whatever the umask.
    # TODO 3: an existing target: if it is already a mount point (mountinfo.is_mountpoint),
    #         return when it shows the same inode as source (st_dev, st_ino), else raise
    #         VolumeError. If its type does not match the source's, raise NotADirectoryError or
    #         IsADirectoryError naming the target, with the source in the message.
    # TODO 4: bind mount with syscalls.mount(source, target, flags=...): submounts included.
    # TODO 5: if read_only, make the whole tree at target read-only with a second call.
    raise NotImplementedError("mount_volume: fill in the TODOs")
