"""Run a command where the kernel gives no mount privileges at all, as in Gradescope's container.

    /usr/bin/python3 tests/backends/confine.py COMMAND...

Loads a seccomp filter (Debian's python3-seccomp, so the system's python3) that refuses, with
EPERM, every way into a mount or a namespace: mount, umount2, unshare, setns, pivot_root, the new
mount API (open_tree, move_mount, fsopen, fsconfig, fsmount, fspick, mount_setattr) and the
namespace flags of clone; clone3, whose flags seccomp cannot read, answers ENOSYS (what Docker's
default profile does, so that the C library falls back to clone). The filter sets no_new_privs
and an exec keeps both. Run it as an unprivileged uid with no capability (setpriv).
"""

import errno
import os
import sys

import seccomp

REFUSED = ("mount", "umount2", "unshare", "setns", "pivot_root", "open_tree", "move_mount",
           "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr")
NAMESPACE_FLAGS = (0x00020000, 0x10000000, 0x20000000, 0x40000000, 0x04000000, 0x08000000,
                   0x02000000, 0x00000080)  # NEWNS USER PID NET UTS IPC CGROUP TIME


def main() -> None:
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in REFUSED:
        f.add_rule(seccomp.ERRNO(errno.EPERM), name)
    for flag in NAMESPACE_FLAGS:
        f.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag,
                                                                   flag))
    f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    f.load()
    os.execvp(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    main()
