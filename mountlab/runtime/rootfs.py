"""The container's root filesystem: overlayfs over the image, a minimal /dev, /proc, pivot_root.

Everything here runs inside the container's private mount namespace: the kernel drops these
mounts with it, so nothing can leak to the host even when the runtime is killed.
"""

from __future__ import annotations

import errno
import os
import stat

from mountlab import syscalls
from mountlab.syscalls import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_REC

__all__ = ["resolve_in_root", "inside", "mount_overlay", "setup_dev", "mount_proc", "pivot",
           "DEVICES"]

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_MAX_LINKS = 40  # Linux's limit on symlinks followed in one lookup (ELOOP beyond)
_OVERLAY_SPECIAL = set(",:\\ \t\n=")  # characters overlayfs options cannot carry as they are


def resolve_in_root(root: str, path: str) -> str:
    """The host path of ``path`` inside ``root``, resolved as if ``root`` were ``/``.

    The runtime's own resolver, independent of the learner's step 4: ``..`` stops at ``root`` and
    a symlink is followed relative to ``root`` (an absolute target restarts from ``root``), so the
    result never leaves ``root``. Missing components are kept as they are.
    """
    todo = [p for p in reversed(path.split("/")) if p and p != "."]
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop()
        if part == "..":
            if done:
                done.pop()
            continue
        current = os.path.join(root, *done, part)
        try:
            st = os.lstat(current)
        except (FileNotFoundError, NotADirectoryError):
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
            target = os.readlink(current)
            if target.startswith("/"):
                done = []
            todo.extend(p for p in reversed(target.split("/")) if p and p != ".")
            continue
        done.append(part)
    return os.path.join(root, *done)


def inside(root: str, path: str | os.PathLike, *, root_is_real: bool = False) -> bool:
    """True when ``path`` (after resolving symlinks on the host) is ``root`` or below it."""
    real_root = root if root_is_real else os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip("/") + "/")


def _option_path(path: str, fds: list[int]) -> str:
    # overlayfs splits its options on ',' and lowerdir on ':'; a path holding such characters is
    # passed as /proc/self/fd/N of an O_PATH descriptor instead.
    if not set(path) & _OVERLAY_SPECIAL:
        return path
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    fds.append(fd)
    return f"/proc/self/fd/{fd}"


def mount_overlay(lower: str, layer: str, *, userns: bool) -> str:
    """Mount the image ``lower`` (never written) under a writable layer kept in ``layer``;
    return the merged root, ``layer/rootfs``.

    The writable layer (``upper``, ``work``) lives on a tmpfs mounted on ``layer`` in this private
    mount namespace: no disk I/O to create or delete it, and nothing left behind when the
    container dies, however it dies (``/run`` is a tmpfs on most systems anyway). Where overlayfs
    refuses a tmpfs upper layer (in a user namespace before Linux 6.6, which lacks user xattrs on
    tmpfs), plain directories in ``layer`` take its place.
    """
    merged = os.path.join(layer, "rootfs")
    syscalls.mount("tmpfs", layer, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
    try:
        _layer_dirs(layer)
        _overlay(lower, layer, userns)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
            raise
        syscalls.umount2(layer, syscalls.MNT_DETACH)
        _layer_dirs(layer)
        _overlay(lower, layer, userns)
    return merged


def _layer_dirs(layer: str) -> None:
    for name in ("upper", "work", "rootfs"):
        os.mkdir(os.path.join(layer, name), 0o755)


def _overlay(lower: str, layer: str, userns: bool) -> None:
    fds: list[int] = []
    try:
        data = ",".join(f"{key}={_option_path(path, fds)}" for key, path in (
            ("lowerdir", lower), ("upperdir", os.path.join(layer, "upper")),
            ("workdir", os.path.join(layer, "work"))))
        merged = os.path.join(layer, "rootfs")
        try:
            syscalls.mount("overlay", merged, "overlay", 0, data)
        except OSError as exc:
            # In a user namespace overlayfs needs "userxattr" (Linux >= 5.11) unless the kernel
            # chooses it itself.
            if not userns or exc.errno not in (errno.EINVAL, errno.EPERM):
                raise
            syscalls.mount("overlay", merged, "overlay", 0, data + ",userxattr")
    finally:
        for fd in fds:
            os.close(fd)


def _plain_dir(root: str, name: str) -> str:
    """``root/name`` as a real directory (created when missing); an image whose /dev or /proc is
    a symlink or a file is refused rather than followed."""
    path = os.path.join(root, name)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        os.mkdir(path, 0o755)
        return path
    if not stat.S_ISDIR(st.st_mode):
        raise OSError(errno.ENOTDIR, f"the image's /{name} is not a directory", path)
    return path


def _touch(path: str, mode: int = 0o666) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, mode))


def setup_dev(root: str, tty: str | None = None) -> None:
    """A tmpfs on ``root/dev`` with the usual device files bound from the host's /dev (binding
    works in a user namespace, where mknod does not), the /proc/self/fd links, and the caller's
    terminal at its own path so that ttyname(3) and job control work inside."""
    dev = _plain_dir(root, "dev")
    syscalls.mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k")
    for name in DEVICES:
        path = os.path.join(dev, name)
        _touch(path)
        syscalls.mount(f"/dev/{name}", path, flags=MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                         ("ptmx", "pts/ptmx")):
        os.symlink(target, os.path.join(dev, name))
    os.mkdir(os.path.join(dev, "pts"), 0o755)
    os.mkdir(os.path.join(dev, "shm"), 0o755)
    os.chmod(os.path.join(dev, "shm"), 0o1777)
    if tty and tty.startswith("/dev/pts/") and tty[9:].isdigit():
        for path in (os.path.join(dev, "pts", tty[9:]), os.path.join(dev, "console")):
            _touch(path, 0o620)
            syscalls.mount(tty, path, flags=MS_BIND)


def mount_proc(root: str) -> None:
    """Mount a procfs of the caller's PID namespace at ``root/proc``: called by the container's
    first process, before pivot_root (in a user namespace the kernel allows a new proc only while
    a full one is still visible)."""
    syscalls.mount("proc", _plain_dir(root, "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def pivot(root: str) -> None:
    """Make ``root`` (a mount point) our ``/`` and drop the host's tree from this namespace.

    pivot_root(".", ".") stacks the old root on the new one; unmounting ``.`` lazily then detaches
    the old root without needing a directory to park it in (the way runc does it).
    """
    os.chdir(root)
    syscalls.pivot_root(".", ".")
    syscalls.umount2(".", syscalls.MNT_DETACH)
    os.chdir("/")


def make_private(path: str = "/") -> None:
    """Stop mount events from propagating between this namespace and the host's (systemd makes /
    shared: without this, our mounts would appear on the host)."""
    syscalls.mount(None, path, flags=MS_REC | syscalls.MS_PRIVATE)
