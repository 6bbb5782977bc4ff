"""Mount namespaces: what the checker and the subject see of the host's files.

``/`` is made private (nothing propagates back to the host) and read-only, recursively. Folders
that hold what a submission must not see (the kit's tree, which holds the reference solutions, the
hidden checks and their history; temporary folders where other submissions or the grader's outputs
live; more by ``MOUNTLAB_HIDE``) are covered with an empty tmpfs, and the few that must stay
visible are bound back read-only: the kit's package, the learners' steps, the graded code, the
interpreter. The check's scratch folder is bound back writable.
"""

from __future__ import annotations

import os

from mountlab import syscalls

TMPFS_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run")
# Never covered, whatever MOUNTLAB_HIDE says: the system the interpreter and the checks run on.
SYSTEM = ("/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/proc", "/dev", "/sys")
_NOSUID_NODEV = syscalls.MS_NOSUID | syscalls.MS_NODEV


def private_root() -> None:
    syscalls.unshare(syscalls.CLONE_NEWNS)
    syscalls.mount("none", "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def open_kept(keep: list[str], scratch: list[str]) -> list[tuple[str, int, bool]]:
    """O_PATH handles on the folders to bring back (before anything covers them): (path, fd,
    writable)."""
    found = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), True) for p in scratch]
    found += [(p, os.open(p, os.O_PATH | os.O_CLOEXEC), False) for p in keep
              if os.path.exists(p) and not any(_under(p, s) for s in scratch)]
    return found


def read_only_root() -> None:
    """Every mount read-only, but /proc (a user namespace's maps are written there)."""
    syscalls.mount_setattr("/", syscalls.MOUNT_ATTR_RDONLY, recursive=True)
    syscalls.mount_setattr("/proc", attr_clr=syscalls.MOUNT_ATTR_RDONLY, recursive=True)


def cover(hide: list[str]) -> list[str]:
    """An empty tmpfs on each temporary folder and each of ``hide``; return what was covered."""
    covered: list[str] = []
    hide = [h for h in map(os.path.realpath, hide)
            if not any(_under(system, h) or _under(h, system) for system in SYSTEM)]
    for path in sorted({os.path.realpath(p) for p in (*TMPFS_DIRS, *hide)}, key=len):
        if any(_under(path, c) for c in covered) or not os.path.isdir(path):
            continue
        syscalls.mount("tmpfs", path, "tmpfs", _NOSUID_NODEV, "mode=0755,size=64m")
        covered.append(path)
    return covered


def temporary_covers() -> list[tuple[str, list[str]]]:
    """Each covered temporary folder of this mount namespace (the checkers') with what is mounted
    on its cover (the one on top: later lines are above earlier ones; what a cover hides below
    stays hidden). Read once by the run's nursery rather than in each subject (a fresh fork pays a
    page fault for every page the parsing writes)."""
    from mountlab import mountinfo

    mounts = mountinfo.read()
    found = []
    for path in TMPFS_DIRS:
        covers = [m for m in mounts if m.mountpoint == path]
        if covers:
            found.append((path, [m.mountpoint for m in mounts
                                 if m.parent_id == covers[-1].mount_id]))
    return found


def fresh_temporary(covers: list[tuple[str, list[str]]]) -> None:
    """An empty tmpfs of its own on each temporary folder of ``covers`` (``temporary_covers``,
    in a subject's mount namespace), with what was bound inside it (the scratch folders' parent)
    bound again: what one check's learner code leaves there, the next never sees."""
    for path, tops in covers:
        if not os.path.isdir(path):
            continue
        kept = [(p, os.open(p, os.O_PATH | os.O_CLOEXEC)) for p in tops]
        syscalls.mount("tmpfs", path, "tmpfs", _NOSUID_NODEV, "mode=0755,size=64m")
        for top, fd in kept:  # as it was: writable where the checkers' view has it so
            _make_folders(top)
            syscalls.mount(f"/proc/self/fd/{fd}", top, None, syscalls.MS_BIND | syscalls.MS_REC)
            os.close(fd)


def _make_folders(path: str) -> None:
    """The folders of ``path`` that are missing, made 0755 (in a fresh tmpfs: the way to a folder
    bound back), one ``mkdir`` each: ``os.makedirs`` wrote some 130 pages in a fresh subject in a
    guest (10 ms a check), this about 50."""
    made = ""
    for name in path.strip("/").split("/"):
        made += "/" + name
        if not os.access(made, os.F_OK):  # no exception raised for those there: fewer pages
            os.mkdir(made, 0o755)


def seal(covered: list[str]) -> None:
    """The covers of hidden folders read-only (their bound-back folders keep their own flags);
    the temporary folders stay writable, each a small tmpfs of the check's own."""
    for path in covered:
        if path not in TMPFS_DIRS:
            syscalls.mount_setattr(path, syscalls.MOUNT_ATTR_RDONLY)


def bring_back(kept: list[tuple[str, int, bool]], covered: list[str]) -> None:
    """Bind each kept folder at its own path again (inside a cover, or over itself for a writable
    one), read-only unless it is scratch."""
    for path, fd, writable in sorted(kept, key=lambda k: len(k[0])):
        if not writable and not any(_under(path, c) for c in covered):
            os.close(fd)
            continue  # still visible, read-only like the rest of /
        if not os.path.lexists(path):
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(path, mode=0o755)
            else:
                os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
                open(path, "x").close()
        syscalls.mount(f"/proc/self/fd/{fd}", path, None, syscalls.MS_BIND | syscalls.MS_REC)
        os.close(fd)
        if writable:
            syscalls.mount_setattr(path, attr_clr=syscalls.MOUNT_ATTR_RDONLY, recursive=True)
