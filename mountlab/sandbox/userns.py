"""User namespaces: who the checker and the subject are, seen from the host.

The checker of a graded check runs in a user namespace whose root is an unprivileged host uid
(``subject_uid()``: 65534, "nobody", when the grader is root; the grader's own uid otherwise), so
that neither it nor anything below it holds a capability over the host. The subject goes one level
deeper (``nest``): a user namespace of its own, where it is root over its own mount and pid
namespaces only, and where every mount the checker made before is locked.
"""

from __future__ import annotations

import os

from mountlab import syscalls

OVERFLOW_UID = 65534


def subject_uid() -> int:
    """The host uid learner code runs as: ``MOUNTLAB_SUBJECT_UID``, 65534 as root, else our own."""
    if os.geteuid() != 0:
        return os.geteuid()
    return int(os.environ.get("MOUNTLAB_SUBJECT_UID") or OVERFLOW_UID)


def write_maps(pid: int | str, uid: int, gid: int, *, proc_fd: int | None = None) -> None:
    """Map root of ``pid``'s user namespace to host ``uid``/``gid`` (one id, nothing else)."""
    steps = [("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")]
    if os.geteuid() != 0 or pid == "self":  # mapping oneself needs setgroups denied first
        steps.insert(0, ("setgroups", "deny"))
    for name, text in steps:
        fd = os.open(f"{pid}/{name}", os.O_WRONLY, dir_fd=proc_fd) if proc_fd is not None \
            else os.open(f"/proc/{pid}/{name}", os.O_WRONLY)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


def unshare_user() -> None:
    """A new user namespace for this process; its maps are written next (by us or by root)."""
    if os.geteuid() == 0:
        os.setgroups([])  # no supplementary group of the host's root comes along
    syscalls.unshare(syscalls.CLONE_NEWUSER)


def become_root() -> None:
    """Take the namespace's uid and gid 0, that is the mapped unprivileged host ids."""
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def nest(flags: int, proc_fd: int | None) -> None:
    """A user namespace below this one, with the other namespaces in ``flags``: root inside maps
    to our own uid, so it gains nothing over what we may do, and mounts we made are locked."""
    syscalls.unshare(syscalls.CLONE_NEWUSER | flags)
    write_maps("self", 0, 0, proc_fd=proc_fd)
