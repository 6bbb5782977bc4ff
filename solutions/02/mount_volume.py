"""Step 2: bind mount a volume (reference solution)."""

import errno
import os

from mountlab import mountinfo, syscalls
from mountlab.errors import VolumeError


def mount_volume(source: str, target: str, *, read_only: bool = False) -> None:
    """Bind mount ``source`` (a directory or a file) on ``target``, submounts included.

    A missing source raises FileNotFoundError and creates nothing. A missing target is created:
    a directory (0755) for a directory source, an empty file (0644) for a file source. With
    ``read_only``, writes through ``target`` and its submounts fail with EROFS. When ``source`` is
    already mounted on ``target`` nothing happens; when something else is, VolumeError.
    """
    # Refuse a missing source before creating anything: a typo must not become an empty volume.
    if not os.path.exists(source):
        raise FileNotFoundError(
            errno.ENOENT, f"the volume's source does not exist, so nothing was mounted on {target}:"
            " create it first or fix the path", source)
    source_is_dir = os.path.isdir(source)
    if not os.path.lexists(target):
        _create_mount_point(target, source_is_dir)
    elif mountinfo.is_mountpoint(target):
        if _same_file(source, target):
            return  # already done: a second bind would stack on top of the first
        raise VolumeError(
            errno.EBUSY, f"something else than {source} is mounted here: unmount it first or "
            "choose another target", target)
    elif os.path.isdir(target) != source_is_dir:
        # The kernel refuses too (ENOTDIR), but without saying which path to change.
        if source_is_dir:
            raise NotADirectoryError(
                errno.ENOTDIR, f"the source {source} is a directory but the target is not: "
                "remove the target or choose another one", target)
        raise IsADirectoryError(
            errno.EISDIR, f"the source {source} is a file but the target is a directory: "
            "remove the target or choose another one", target)
    # MS_REC brings along what is mounted below source; without it the submounts look empty.
    syscalls.mount(source, target, flags=syscalls.MS_BIND | syscalls.MS_REC)
    if read_only:
        # The first MS_BIND call ignores MS_RDONLY. mount_setattr then changes every mount of the
        # tree at once and leaves their other flags (nosuid, nodev, noexec) as they are.
        syscalls.mount_setattr(target, syscalls.MOUNT_ATTR_RDONLY, recursive=True)


def _create_mount_point(target: str, is_dir: bool) -> None:
    """Create ``target`` and its missing parents: directories 0755, an empty file 0644."""
    # mkdir and open create 0777 and 0666 less the umask: a umask of 022 gives 0755 and 0644,
    # whatever the caller's umask is.
    old = os.umask(0o022)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        if is_dir:
            os.mkdir(target)
        else:
            open(target, "x").close()
    finally:
        os.umask(old)


def _same_file(a: str, b: str) -> bool:
    """Two paths show the same inode: ``b`` is already a bind mount of ``a``."""
    sa, sb = os.stat(a), os.stat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
