"""How the checker looks at the kernel's state once it has entered the subject's mount namespace.

There, ``/proc`` is the subject's (its pid namespace, and it may mount over it): the checker
reads /proc only through the descriptor it opened on the host's before the subject existed, so
nothing the subject mounts or fakes changes what a check sees.
"""

from __future__ import annotations

import os

from mountlab import mountinfo

_proc_fd: int | None = None


def use(proc_fd: int) -> None:
    """From now on, this process reads /proc through ``proc_fd`` (mountinfo included)."""
    global _proc_fd
    _proc_fd = proc_fd
    mountinfo.read = read  # this process only: the checker's view of its mount table


def proc_open(path: str, flags: int = os.O_RDONLY) -> int:
    if _proc_fd is None:
        return os.open(f"/proc/{path}", flags | os.O_CLOEXEC)
    return os.open(path, flags | os.O_CLOEXEC, dir_fd=_proc_fd)


def proc_read(path: str) -> bytes:
    fd = proc_open(path)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def proc_stat(path: str) -> os.stat_result:
    if _proc_fd is None:
        return os.stat(f"/proc/{path}")
    return os.stat(path, dir_fd=_proc_fd)


def proc_readlink(path: str) -> str:
    if _proc_fd is None:
        return os.readlink(f"/proc/{path}")
    return os.readlink(path, dir_fd=_proc_fd)


def proc_listdir(path: str) -> list[str]:
    fd = proc_open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def read(pid: int | str = "self") -> list[mountinfo.Mount]:
    return mountinfo.parse(proc_read(f"{pid}/mountinfo"))


def mount_ids() -> set[int]:
    """The mount IDs of this process's mount table: the first field of each line, nothing else
    parsed (a check's table before the learner's code runs, compared with ``mounts_since``)."""
    return {mountinfo.mount_id(line) for line in proc_read("self/mountinfo").splitlines() if line}


def mounts_since(before: set[int]) -> list[mountinfo.Mount]:
    """The mounts of this process's table whose IDs are not in ``before``: only their lines
    parsed."""
    return [mountinfo.parse_line(line) for line in proc_read("self/mountinfo").splitlines()
            if line and mountinfo.mount_id(line) not in before]


def namespace_pid(host_pid: int) -> int:
    """The pid of ``host_pid`` in its innermost pid namespace (what the subject calls it)."""
    for line in proc_read(f"{host_pid}/status").splitlines():
        if line.startswith(b"NSpid:"):
            return int(line.split()[-1])
    return host_pid


def processes_in(pid_ns: int, exclude: set[int], init: int) -> list[str]:
    """The host pids (with their command line) of the processes in pid namespace ``pid_ns``,
    whose pid 1 is ``init`` (a host pid)."""
    inode = os.fstat(pid_ns).st_ino
    found = []
    for pid in _descendants(init) if _has_children_files() else _all_processes():
        if pid in exclude:
            continue
        try:
            if proc_stat(f"{pid}/ns/pid").st_ino != inode:
                continue
            cmd = proc_read(f"{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        found.append(f"PID {namespace_pid(pid)} ({cmd.strip()[:200] or '?'})")
    return found


def _descendants(init: int) -> list[int]:
    """Every descendant of ``init``, through each task's ``children`` file: a few reads per
    check, where listing every process of the host cost a stat for each. A process whose parent
    ended is the child of the namespace's pid 1 (``init``) by then, so none is missed."""
    found: list[int] = []
    parents = [init]
    while parents:
        parent = parents.pop()
        try:
            tasks = proc_listdir(f"{parent}/task")
        except OSError:  # it ended meanwhile
            continue
        for task in tasks:
            try:
                children = [int(pid) for pid in proc_read(f"{parent}/task/{task}/children").split()]
            except OSError:
                continue
            found += children
            parents += children
    return found


_children_files: bool | None = None


def _has_children_files() -> bool:
    """The kernel keeps /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN, as Debian's)."""
    global _children_files
    if _children_files is None:
        try:
            proc_stat("thread-self/children")
            _children_files = True
        except FileNotFoundError:
            _children_files = False
    return _children_files


def _all_processes() -> list[int]:
    return [int(name) for name in proc_listdir(".") if name.isdigit()]
