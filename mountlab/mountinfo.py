"""Read the kernel's mount table: ``/proc/<pid>/mountinfo`` (proc_pid_mountinfo(5)).

One line per mount, for example::

    36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    (1)(2) (3)  (4)    (5)         (6)       (7)    (8) (9)   (10)       (11)

(1) mount ID, (2) parent ID, (3) device, (4) root of the mount inside its filesystem,
(5) mount point, (6) per-mount options, (7) zero or more optional fields (``shared:N``,
``master:N``...), (8) the ``-`` separator, (9) filesystem type, (10) source,
(11) per-superblock options.

The kernel escapes space, tab, newline and backslash in paths as octal
(``\\040 \\011 \\012 \\134``), so splitting a line on spaces is safe once, and only once,
the fields are unescaped after the split.
"""

from __future__ import annotations

import os
import re
from collections import namedtuple

from mountlab import syscalls

__all__ = ["Mount", "parse_line", "parse", "read", "find", "mounts_under", "within",
           "is_mountpoint", "unescape"]

_OCTAL = re.compile(rb"\\([0-7]{3})")

_Fields = namedtuple("Mount", ["mount_id", "parent_id", "major", "minor", "root", "mountpoint",
                               "options", "optional", "fstype", "source", "super_options"])


class Mount(_Fields):
    """One line of mountinfo, unescaped: the fields (1) to (11) above, by name.

    ``options``, ``optional`` and ``super_options`` are tuples of strings.
    """

    __slots__ = ()

    @property
    def read_only(self) -> bool:
        return "ro" in self.options

    @property
    def propagation(self) -> str:
        """``shared``, ``slave``, ``unbindable`` or ``private`` (no optional field)."""
        tags = {field.split(":")[0] for field in self.optional}
        for tag in ("shared", "master", "unbindable"):
            if tag in tags:
                return "slave" if tag == "master" else tag
        return "private"


def unescape(field: bytes) -> str:
    """``b'/a\\\\040b'`` -> ``'/a b'``; non-UTF-8 bytes survive as surrogates (os.fsdecode)."""
    if b"\\" in field:  # only a path with a space, tab, newline or backslash needs it
        field = _OCTAL.sub(lambda m: bytes([int(m.group(1), 8)]), field)
    return os.fsdecode(field)


def mount_id(line: bytes) -> int:
    """The mount ID of one mountinfo line (its first field), nothing else parsed: what a
    comparison of two tables needs."""
    return int(line.split(b" ", 1)[0])


def parse_line(line: bytes | str) -> Mount:
    """Parse one mountinfo line."""
    raw = line.encode() if isinstance(line, str) else line
    fields = raw.rstrip(b"\n").split(b" ")
    # The optional fields are variable in number: find the separator from the end, where exactly
    # three fields follow it.
    if len(fields) < 10 or fields[-4] != b"-":
        raise ValueError(f"not a mountinfo line: {raw!r}")
    major, minor = fields[2].split(b":")
    return Mount(
        mount_id=int(fields[0]),
        parent_id=int(fields[1]),
        major=int(major),
        minor=int(minor),
        root=unescape(fields[3]),
        mountpoint=unescape(fields[4]),
        options=tuple(fields[5].decode().split(",")),
        optional=tuple(f.decode() for f in fields[6:-4]),
        fstype=unescape(fields[-3]),
        source=unescape(fields[-2]),
        super_options=tuple(unescape(fields[-1]).split(",")),
    )


def parse(text: bytes) -> list[Mount]:
    return [parse_line(line) for line in text.splitlines() if line]


def read(pid: int | str = "self") -> list[Mount]:
    """All mounts seen by process ``pid``, in the kernel's order (parents before children)."""
    with open(f"/proc/{pid}/mountinfo", "rb") as f:
        return parse(f.read())


def find(target: str | os.PathLike, pid: int | str = "self") -> list[Mount]:
    """The mounts whose mount point is ``target`` (several when mounts are stacked), oldest first.

    ``target`` is resolved first (symlinks, ``..``) because mountinfo shows canonical paths.
    """
    path = os.path.realpath(target)
    return [m for m in read(pid) if m.mountpoint == path]


def within(path: str, top: str) -> bool:
    """True when ``path`` is ``top`` or below it: a comparison of the strings, as given."""
    return path == top or path.startswith(top.rstrip("/") + "/")


def mounts_under(path: str | os.PathLike, pid: int | str = "self") -> list[Mount]:
    """The mounts at ``path`` or below it, oldest first."""
    top = os.path.realpath(path)
    return [m for m in read(pid) if within(m.mountpoint, top)]


def is_mountpoint(path: str | os.PathLike) -> bool:
    """True when something is mounted at ``path``, bind mounts of the same filesystem included.

    ``os.path.ismount`` compares the device of ``path`` and of its parent, so it answers False for a
    bind mount of a directory of the same filesystem. statx(2) asks the kernel directly in one call;
    where statx cannot tell, the mount table is read.
    """
    try:
        return syscalls.is_mount_root(path)
    except FileNotFoundError:
        return False
    except OSError:
        return bool(find(path))
