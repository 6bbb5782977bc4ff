"""Small tools the graded checks share: look at the kernel's state, hold a mount busy, snapshot a
tree. They run inside the check's sandbox (its own mount namespace)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import subprocess
import threading
from collections.abc import Iterator

from mountlab import mountinfo, syscalls


def mount_count(path: str | os.PathLike) -> int:
    """How many mounts are stacked at ``path`` (0: not a mount point)."""
    return len(mountinfo.find(path))


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Two paths show the same inode: what a bind mount does."""
    sa, sb = os.stat(a), os.stat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def write_fails_with_erofs(directory: str | os.PathLike) -> bool:
    """Try to create a file in ``directory``: True when the kernel refuses with EROFS."""
    path = os.path.join(directory, ".mountlab-write-probe")
    try:
        with open(path, "w") as f:
            f.write("x")
    except OSError as exc:
        return exc.errno == errno.EROFS
    os.unlink(path)
    return False


def snapshot(root: str | os.PathLike) -> dict[str, tuple]:
    """Every path under ``root`` with its type, mode and content digest: compare two snapshots to
    prove that nothing was created, removed or changed."""
    found: dict[str, tuple] = {}
    root = os.fspath(root)
    if not os.path.lexists(root):
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest = ""
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            found[os.path.relpath(path, root)] = (st.st_mode, digest)
    return found


def tmpfs(path: str | os.PathLike) -> None:
    """Mount a small tmpfs at ``path`` (a different filesystem, for submounts and "something else
    is mounted here")."""
    os.makedirs(path, exist_ok=True)
    syscalls.mount("tmpfs", path, "tmpfs", 0, "size=1m")


def bind(source: str | os.PathLike, target: str | os.PathLike, *, read_only: bool = False) -> None:
    """A plain bind mount made by the check itself (not by the code under test)."""
    syscalls.mount(source, target, None, syscalls.MS_BIND)
    if read_only:
        syscalls.mount(None, target, None,
                       syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY)


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@contextlib.contextmanager
def holding(path: str | os.PathLike, *, release_after: float | None = None) \
        -> Iterator[subprocess.Popen]:
    """A process whose working directory is ``path``, which keeps a mount there busy (EBUSY).

    With ``release_after``, the process ends by itself after that many seconds.
    """
    proc = subprocess.Popen(["sleep", "60"], cwd=path)
    timer = None
    if release_after is not None:
        timer = threading.Timer(release_after, _stop, (proc,))
        timer.start()
    try:
        yield proc
    finally:
        if timer is not None:
            timer.cancel()
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
