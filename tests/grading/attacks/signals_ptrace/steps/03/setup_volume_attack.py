"""Attack: signals and ptrace aimed at the grader, around correct code. kill(-1), killpg(0), a
kill of every pid it can name (the ones /proc lists and every number up to 100000, the test's own
pid included), pidfd signals, PTRACE_ATTACH / PTRACE_SEIZE on each; then the reference's work. If
nothing of the grader was reached, every check passes as it does for the reference."""

import ctypes
import os
import signal
import sys

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
    pids = {int(p) for p in os.listdir("/proc") if p.isdigit()} | set(range(1, 100_000))
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
    attack_kit.attempt(os.killpg, 0, signal.SIGKILL)
    return reached
