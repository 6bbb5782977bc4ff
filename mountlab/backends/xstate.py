"""The seccomp filter User-Mode Linux needs on CPUs with a large XSAVE area.

UML saves and restores a guest process's registers with ``ptrace(PTRACE_GETREGSET /
PTRACE_SETREGSET, pid, NT_X86_XSTATE, ...)``. On CPUs whose XSAVE area outgrows what Debian's UML
expects (AVX-512, AMX), that fails with EFAULT and the guest panics at its first process. Making
exactly those two requests fail with EIO makes UML fall back to the 512-byte FXSAVE area, which
works everywhere. The price: AVX registers are not kept across a guest's context switches, so the
guest's programs are told not to use AVX (``mountlab.backends.uml.GLIBC_TUNABLES``).

A filter needs no privilege once ``no_new_privs`` is set, and an exec keeps it: ``install()`` runs
in the child just before it execs ``linux.uml``. ctypes only, so that it works in any virtualenv.
"""

from __future__ import annotations

import ctypes
import errno
import struct

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
AUDIT_ARCH_X86_64 = 0xC000003E
NR_PTRACE_X86_64 = 101
PTRACE_GETREGSET = 0x4204
PTRACE_SETREGSET = 0x4205
NT_X86_XSTATE = 0x202

# Classic BPF opcodes (linux/filter.h).
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
# Offsets in struct seccomp_data: nr, arch, instruction pointer, then args[6] (64 bits each,
# little-endian on x86-64: the low half first).
_NR, _ARCH, _ARG0_LO, _ARG0_HI, _ARG2_LO, _ARG2_HI = 0, 4, 16, 20, 32, 36


def program() -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) instructions: EIO for the two XSTATE requests of
    ptrace, everything else allowed."""
    allow = (_RET_K, 0, 0, SECCOMP_RET_ALLOW)
    return [
        (_LD_W_ABS, 0, 0, _ARCH),
        (_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        allow,
        (_LD_W_ABS, 0, 0, _NR),
        (_JEQ_K, 1, 0, NR_PTRACE_X86_64),
        allow,
        (_LD_W_ABS, 0, 0, _ARG0_HI),
        (_JEQ_K, 1, 0, 0),
        allow,
        (_LD_W_ABS, 0, 0, _ARG0_LO),
        (_JEQ_K, 1, 0, PTRACE_GETREGSET),
        (_JEQ_K, 0, 5, PTRACE_SETREGSET),
        (_LD_W_ABS, 0, 0, _ARG2_HI),
        (_JEQ_K, 0, 3, 0),
        (_LD_W_ABS, 0, 0, _ARG2_LO),
        (_JEQ_K, 0, 1, NT_X86_XSTATE),
        (_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EIO),
        allow,
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install() -> None:
    """Set ``no_new_privs`` and load the filter into this process (and what it execs).
    Raises ``OSError`` when the kernel refuses."""
    libc = ctypes.CDLL(None, use_errno=True)
    code = program()
    raw = b"".join(struct.pack("=HBBI", *insn) for insn in code)
    buf = ctypes.create_string_buffer(raw, len(raw))
    prog = _SockFprog(len(code), ctypes.cast(buf, ctypes.c_void_p))
    for args in ((PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
                 (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0)):
        if libc.prctl(*(ctypes.c_ulong(a) for a in args)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"prctl({args[0]}): {errno.errorcode.get(err, err)}")


def needed() -> bool:
    """True on x86-64 CPUs whose XSAVE area outgrows Debian's UML (AVX-512, AMX), where stock
    UML dies at its first guest process. Elsewhere UML keeps the full state itself and neither
    the filter nor the glibc tunable is used (the tunable must reach every guest process,
    including those started with an emptied environment). ``MOUNTLAB_UML_XSTATE=1`` or ``0``
    decides instead."""
    import os
    import platform

    forced = os.environ.get("MOUNTLAB_UML_XSTATE", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if platform.machine() not in ("x86_64", "AMD64"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return True
    return any(flag.startswith(("avx512", "amx")) for flag in flags)
