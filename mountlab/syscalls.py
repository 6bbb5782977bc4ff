"""The mount system calls the ``os`` module lacks, through ctypes.

Every wrapper raises ``OSError`` like the ``os`` module does: the errno, a message naming the call
and its flags, and the paths involved (``err.filename`` and ``err.filename2``).

Man pages: mount(2), umount2(2), unshare(2), setns(2), pivot_root(2), mount_setattr(2), statx(2).
"""

from __future__ import annotations

import errno
import functools
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes

__all__ = [
    "mount", "umount2", "unshare", "setns", "pivot_root", "mount_setattr", "statx_attributes",
    "is_mount_root", "describe_flags",
]

# mount(2) flags, from <linux/mount.h>.
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

# umount2(2) flags.
MNT_FORCE = 0x1
MNT_DETACH = 0x2
MNT_EXPIRE = 0x4
UMOUNT_NOFOLLOW = 0x8

# unshare(2) / setns(2) / clone(2) flags.
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount_setattr(2) attributes and flags.
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_NO_AUTOMOUNT = 0x800
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000

# statx(2): the attribute that marks the root of a mount, bind mounts of one filesystem included.
STATX_ATTR_MOUNT_ROOT = 0x2000

_MS_NAMES = {
    value: name for name, value in globals().items()
    if name.startswith("MS_") and value & (value - 1) == 0
}
_MNT_NAMES = {MNT_FORCE: "MNT_FORCE", MNT_DETACH: "MNT_DETACH", MNT_EXPIRE: "MNT_EXPIRE",
              UMOUNT_NOFOLLOW: "UMOUNT_NOFOLLOW"}
_CLONE_NAMES = {v: k for k, v in globals().items() if k.startswith("CLONE_")}
_ATTR_NAMES = {v: k for k, v in globals().items()
               if k.startswith("MOUNT_ATTR_") and v and v & (v - 1) == 0}

# Syscall numbers that glibc has no wrapper for. Newer syscalls share one number on every arch.
_MACHINE = os.uname().machine if hasattr(os, "uname") else ""  # Windows has no uname
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "armv7l": 218, "ppc64le": 203, "s390x": 217,
                   "riscv64": 41}.get(_MACHINE, -1)
_SYS_MOUNT_SETATTR = 442


@functools.cache
def _types() -> tuple:
    """``(ctypes, _MountAttr, _Statx)``, made on first use: a process that needs only the
    constants (``./container``'s parent process, which mounts nothing) never imports ctypes."""
    import ctypes

    class _MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                    ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

    class _StatxTimestamp(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_uint32),
                    ("_reserved", ctypes.c_int32)]

    class _Statx(ctypes.Structure):
        _fields_ = [("stx_mask", ctypes.c_uint32), ("stx_blksize", ctypes.c_uint32),
                    ("stx_attributes", ctypes.c_uint64), ("stx_nlink", ctypes.c_uint32),
                    ("stx_uid", ctypes.c_uint32), ("stx_gid", ctypes.c_uint32),
                    ("stx_mode", ctypes.c_uint16), ("_spare0", ctypes.c_uint16),
                    ("stx_ino", ctypes.c_uint64), ("stx_size", ctypes.c_uint64),
                    ("stx_blocks", ctypes.c_uint64), ("stx_attributes_mask", ctypes.c_uint64),
                    ("stx_atime", _StatxTimestamp), ("stx_btime", _StatxTimestamp),
                    ("stx_ctime", _StatxTimestamp), ("stx_mtime", _StatxTimestamp),
                    ("stx_rdev_major", ctypes.c_uint32), ("stx_rdev_minor", ctypes.c_uint32),
                    ("stx_dev_major", ctypes.c_uint32), ("stx_dev_minor", ctypes.c_uint32),
                    ("_spare", ctypes.c_uint64 * 14)]

    return ctypes, _MountAttr, _Statx


@functools.cache
def _lib() -> ctypes.CDLL:
    """The C library, loaded on first use: importing this module must work on any OS (pytest on a
    macOS or Windows host imports it before forwarding itself into the VM)."""
    ctypes, _, _Statx = _types()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_void_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    libc.unshare.argtypes = [ctypes.c_int]
    libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.syscall.restype = ctypes.c_long
    if hasattr(libc, "statx"):
        libc.statx.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint,
                               ctypes.POINTER(_Statx)]
    return libc


def _names(flags: int, table: dict[int, str]) -> str:
    """Spell flags as the C code would, e.g. ``MS_BIND|MS_REC``; unknown bits in hex."""
    parts, rest = [], flags
    for bit in sorted(table):
        if flags & bit:
            parts.append(table[bit])
            rest &= ~bit
    if rest:
        parts.append(hex(rest))
    return "|".join(parts) or "0"


def describe_flags(flags: int) -> str:
    """``describe_flags(MS_BIND | MS_REC)`` -> ``'MS_BIND|MS_REC'``."""
    return _names(flags, _MS_NAMES)


def _path(path: str | bytes | os.PathLike | None) -> bytes | None:
    # The kernel would silently cut a path at a NUL: refuse it, as the os module does.
    if path is None:
        return None
    raw = os.fsencode(path)
    if b"\0" in raw:
        raise ValueError(f"embedded null byte in path {os.fsdecode(raw)!r}")
    return raw


def _fail(call: str, source=None, target=None) -> OSError:
    err = _types()[0].get_errno()
    return OSError(err, f"{call}: {os.strerror(err)}",
                   None if source is None else os.fsdecode(source),
                   None, None if target is None else os.fsdecode(target))


def mount(source: str | os.PathLike | None, target: str | os.PathLike, fstype: str | None = None,
          flags: int = 0, data: str | None = None) -> None:
    """mount(2). ``mount(src, dst, flags=MS_BIND | MS_REC)`` makes a recursive bind mount."""
    src, dst = _path(source), _path(target)
    if _lib().mount(src, dst, fstype.encode() if fstype else None, flags,
                   data.encode() if data else None) != 0:
        what = f"mount({describe_flags(flags)}" + (f", type={fstype}" if fstype else "") + ")"
        raise _fail(what, source if source is not None else "none", target)


def umount2(target: str | os.PathLike, flags: int = 0) -> None:
    """umount2(2). EINVAL: not a mount point; EBUSY: in use; ENOENT: no such path."""
    if _lib().umount2(_path(target), flags) != 0:
        raise _fail(f"umount2({_names(flags, _MNT_NAMES)})" if flags else "umount2", target)


def unshare(flags: int) -> None:
    """unshare(2), e.g. ``unshare(CLONE_NEWNS)`` for a mount namespace of one's own."""
    if _lib().unshare(flags) != 0:
        raise _fail(f"unshare({_names(flags, _CLONE_NAMES)})")


def setns(fd: int, nstype: int = 0) -> None:
    """setns(2): join the namespace that ``fd`` (an open ``/proc/PID/ns/...``) refers to."""
    if _lib().setns(fd, nstype) != 0:
        raise _fail(f"setns(fd={fd}, {_names(nstype, _CLONE_NAMES)})")


def prctl(option: int, value: int) -> None:
    """prctl(2) with one argument, e.g. ``prctl(PR_SET_NO_NEW_PRIVS, 1)``."""
    if _lib().prctl(option, value, 0, 0, 0) != 0:
        raise _fail(f"prctl({option}, {value})")


def pivot_root(new_root: str | os.PathLike, put_old: str | os.PathLike) -> None:
    """pivot_root(2): make ``new_root`` the root and move the old root to ``put_old``."""
    if _SYS_PIVOT_ROOT < 0:
        raise OSError(errno.ENOSYS, f"pivot_root: unknown on {_MACHINE}")
    if _lib().syscall(_SYS_PIVOT_ROOT, _path(new_root), _path(put_old)) != 0:
        raise _fail("pivot_root", new_root, put_old)


def mount_setattr(path: str | os.PathLike, attr_set: int = 0, attr_clr: int = 0, *,
                  recursive: bool = False, propagation: int = 0, dirfd: int = AT_FDCWD,
                  flags: int = 0) -> None:
    """mount_setattr(2) (Linux >= 5.12): change mount attributes, the whole subtree if recursive."""
    ctypes, _MountAttr, _ = _types()
    attr = _MountAttr(attr_set, attr_clr, propagation, 0)
    at_flags = flags | (AT_RECURSIVE if recursive else 0)
    if _lib().syscall(_SYS_MOUNT_SETATTR, ctypes.c_int(dirfd), _path(path),
                      ctypes.c_uint(at_flags), ctypes.byref(attr),
                      ctypes.c_size_t(ctypes.sizeof(attr))) != 0:
        what = (f"mount_setattr(set={_names(attr_set, _ATTR_NAMES)}, "
                f"clear={_names(attr_clr, _ATTR_NAMES)}{', AT_RECURSIVE' if recursive else ''})")
        raise _fail(what, path)


def statx_attributes(path: str | os.PathLike, *, follow_symlinks: bool = True) -> int:
    """The ``stx_attributes`` of statx(2) for ``path`` (``STATX_ATTR_MOUNT_ROOT`` among them)."""
    if not hasattr(_lib(), "statx"):
        raise OSError(errno.ENOSYS, "statx: not in this C library")
    ctypes, _, _Statx = _types()
    buf = _Statx()
    flags = AT_NO_AUTOMOUNT | (0 if follow_symlinks else AT_SYMLINK_NOFOLLOW)
    if _lib().statx(AT_FDCWD, _path(path), flags, 0, ctypes.byref(buf)) != 0:
        raise _fail("statx", path)
    if not buf.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT:
        raise OSError(errno.ENOSYS, "statx: this kernel does not report STATX_ATTR_MOUNT_ROOT")
    return buf.stx_attributes


def is_mount_root(path: str | os.PathLike) -> bool:
    """True when ``path`` is the root of a mount, in one statx(2) call (Linux >= 5.8)."""
    return bool(statx_attributes(path) & STATX_ATTR_MOUNT_ROOT)
