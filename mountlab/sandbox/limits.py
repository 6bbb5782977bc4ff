"""Process limits for the subject: what it may consume, inherit and become."""

from __future__ import annotations

import os
import resource
import signal

from mountlab import syscalls

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38

RLIMITS = {
    resource.RLIMIT_NPROC: 256,  # counted per host uid: generous, a fork bomb still stops
    resource.RLIMIT_NOFILE: 256,
    resource.RLIMIT_AS: 2 << 30,
    # Endless output ends here too (SIGXFSZ): a check shows 64 kB of it, and every megabyte
    # written costs a User-Mode Linux guest about a tenth of a second. No step writes big files.
    resource.RLIMIT_FSIZE: 4 << 20,
    resource.RLIMIT_CORE: 0,
}


def _prctl(option: int, value: int) -> None:
    syscalls.prctl(option, value)


def die_with_parent() -> None:
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def dumpable(value: bool) -> None:
    """Not dumpable: a process of the same uid may not ptrace it or read its /proc files."""
    _prctl(_PR_SET_DUMPABLE, int(value))


def no_new_privs() -> None:
    """No execve may ever grant privileges again (setuid binaries, file capabilities)."""
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)


def killed_first() -> None:
    """First in line when the machine runs out of memory (inherited by every child): the kernel
    ends learner code, not the grader. Raising it needs no privilege; lowering it does."""
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")


def apply(cpu_seconds: int) -> None:
    for which, value in {**RLIMITS, resource.RLIMIT_CPU: cpu_seconds}.items():
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))


def close_fds(keep: list[int]) -> None:
    """Close every descriptor but ``keep`` (and make those inheritable across execve)."""
    for fd in keep:
        os.set_inheritable(fd, True)
    top = 3
    for fd in sorted(k for k in keep if k >= 3):
        os.closerange(top, fd)
        top = fd + 1
    os.closerange(top, 1 << 16)
