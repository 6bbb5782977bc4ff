"""Delete a directory tree, but never through a mount point.

``shutil.rmtree`` crosses mount points: run on a folder with a bind mount below it, it deletes the
files of the mounted source (moby #32327). ``remove_tree`` asks the kernel's mount table first and
refuses, deleting nothing, while anything is mounted at or below the tree.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil

from mountlab import mountinfo

__all__ = ["MountedError", "remove_tree"]


class MountedError(OSError):
    """Something is mounted at or below a tree to delete: nothing was deleted.

    ``mounts`` lists the mount points, oldest first; ``filename`` is the tree.
    """

    def __init__(self, path: str, mounts: list[str]) -> None:
        super().__init__(errno.EBUSY, "still mounted, not removed: " + ", ".join(mounts), path)
        self.mounts = mounts


def remove_tree(path: str | os.PathLike, *, missing_ok: bool = True,
                ignore_errors: bool = False) -> None:
    """Delete ``path`` and everything under it; a symlink or a file is just unlinked.

    Raises ``MountedError`` (an ``OSError``, EBUSY) naming the mount points when anything is
    mounted at or below ``path``, whatever ``ignore_errors`` says. Symlinks are never followed.
    A missing ``path`` is fine unless ``missing_ok`` is False (FileNotFoundError).
    ``ignore_errors``: leave what cannot be deleted in place, silently.

    Read-only (a tar's 0555) and 0000 (overlayfs's ``work/work``) directories are opened up
    (0700) and the deletion retried, so that their owner can delete them without root.
    """
    path = os.fspath(path)
    if os.path.islink(path) or not os.path.isdir(path):
        if os.path.lexists(path):
            try:
                os.unlink(path)
            except OSError:
                if not ignore_errors:
                    raise
        elif not missing_ok:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        return
    mounted = [m.mountpoint for m in mountinfo.mounts_under(path)]
    if not mounted and mountinfo.is_mountpoint(path):  # a mount the table shows elsewhere
        mounted = [os.path.realpath(path)]
    if mounted:
        raise MountedError(path, mounted)
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        if os.path.lexists(path):  # something inside vanished meanwhile: try again
            shutil.rmtree(path, ignore_errors=ignore_errors)
        elif not missing_ok:
            raise
    except OSError:
        _open_up(path)
        shutil.rmtree(path, ignore_errors=ignore_errors)


def _open_up(path: str) -> None:
    """chmod 0700 ``path`` and every directory below it, never through a symlink (a container
    may leave links to host paths in its upper layer). The walk goes top-down, so each directory
    is opened before it is listed."""
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    for top, dirs, _ in os.walk(path):
        for name in dirs:
            full = os.path.join(top, name)
            if not os.path.islink(full):
                with contextlib.suppress(OSError):
                    os.chmod(full, 0o700)
