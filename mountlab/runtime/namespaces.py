"""Namespaces and process plumbing: unshare with a user namespace when not root, join another
process's namespaces, hostname, parent-death signal.

Man pages: namespaces(7), user_namespaces(7), unshare(2), setns(2), prctl(2).
"""

from __future__ import annotations

import ctypes
import errno
import os

from mountlab import syscalls

__all__ = ["create", "join", "set_hostname", "die_with_parent", "NAMESPACES"]

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1

# /proc/PID/ns/<name> -> CLONE_ flag; the order is the one to join them in: the user namespace
# first (it grants the capabilities the others need), the mount namespace last (it changes our
# root, after which /proc/PID paths of the host could no longer be opened).
NAMESPACES = (("user", syscalls.CLONE_NEWUSER), ("uts", syscalls.CLONE_NEWUTS),
              ("pid", syscalls.CLONE_NEWPID), ("mnt", syscalls.CLONE_NEWNS))


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def create(user: bool) -> None:
    """unshare mount, UTS and PID namespaces (the PID one applies to our next child), and a user
    namespace first when ``user`` (not root): we become root inside it, mapped to our own uid."""
    flags = syscalls.CLONE_NEWNS | syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWPID
    if not user:
        syscalls.unshare(flags)
        return
    uid, gid = os.geteuid(), os.getegid()
    syscalls.unshare(flags | syscalls.CLONE_NEWUSER)
    # An unprivileged process may map only its own ids, and must give up setgroups(2) first.
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"0 {uid} 1")
    _write("/proc/self/gid_map", f"0 {gid} 1")


def join(pid: int) -> None:
    """Enter the namespaces of process ``pid`` that differ from ours (PID: our next child)."""
    fds = []
    try:
        for name, flag in NAMESPACES:
            path = f"/proc/{pid}/ns/{name}"
            if os.stat(path).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                continue  # already there (setns into one's own user namespace is EINVAL)
            fds.append((os.open(path, os.O_RDONLY | os.O_CLOEXEC), flag))
        # Keep the container's root: after setns(mnt) our root is the namespace's root, which
        # pivot_root made the container's; fchdir+chroot through /proc/PID/root makes sure.
        root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fds.append((root, 0))
        for fd, flag in fds:
            if flag:
                syscalls.setns(fd, flag)
        os.fchdir(root)
        os.chroot(".")
        os.chdir("/")
    finally:
        for fd, _ in fds:
            os.close(fd)


def set_hostname(name: str) -> None:
    raw = name.encode()
    if _libc.sethostname(raw, len(raw)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"sethostname: {os.strerror(err)}", name)


def die_with_parent(signal_number: int, parent: int, *, new_pid_ns: bool = False) -> None:
    """Have the kernel send ``signal_number`` to us when our parent dies (kept across execve), and
    give up at once if ``parent`` (its PID in the host's PID namespace) died before we asked.

    The first process of a new PID namespace sees its parent as PID 0, so it looks for it in
    /proc instead, which is still the host's at that point.
    """
    if _libc.prctl(_PR_SET_PDEATHSIG, signal_number, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    alive = os.path.exists(f"/proc/{parent}") if new_pid_ns else os.getppid() == parent
    if not alive:
        os.kill(os.getpid(), signal_number)
        raise OSError(errno.ESRCH, "the runtime died while the container was starting")
