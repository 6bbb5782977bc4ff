"""Run the kit's own code in a throwaway child: its own mount namespace, ``/`` private, a time
limit. For the kit's trusted helpers (the notebooks' lab, ``doctor``, the kit's tests); learner code
goes through ``mountlab.sandbox.check`` instead, which never runs it in a privileged process.

Whatever the callable mounts stays in the child's namespace and goes away with it, so a check can
mount freely and a buggy learner function cannot leave anything mounted on the host. The result, or
the exception with its traceback, comes back through a pipe as JSON (``wire``).

As root the child unshares a mount namespace; otherwise a user namespace first (mapping the user to
root inside it), where the kernel allows unprivileged user namespaces.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from mountlab import mountinfo, syscalls
from mountlab.sandbox import wire

_PR_SET_CHILD_SUBREAPER = 36
_HERE = os.path.abspath(__file__)


class SandboxError(Exception):
    """The child did not return: ``text`` says why, in the learner's terms."""

    def __init__(self, text: str, exc_type: str = "") -> None:
        super().__init__(text)
        self.text = text
        self.exc_type = exc_type


class SandboxTimeout(SandboxError):
    pass


class ChildRaised(SandboxError):
    """The callable raised: ``exc_type`` is its class name, ``text`` the traceback to show,
    ``message`` its message; ``from_subject`` when learner code raised it (not the check)."""

    def __init__(self, text: str, exc_type: str, message: str = "",
                 from_subject: bool = False) -> None:
        super().__init__(text, exc_type)
        self.message = message
        self.from_subject = from_subject


def enter_private_mount_namespace() -> None:
    """unshare(2) a mount namespace (in a user namespace when not root) and make ``/`` private,
    so that nothing mounted from now on propagates back to the host."""
    if os.geteuid() == 0:
        syscalls.unshare(syscalls.CLONE_NEWNS)
    else:
        uid, gid = os.geteuid(), os.getegid()
        syscalls.unshare(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNS)
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                           ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    syscalls.mount("none", "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)


def protect_host_root(writable: list[str]) -> None:
    """Make the root filesystem read-only in this namespace, but for the ``writable`` folders.

    Code under test that writes where it should not (``os.path.join(rootfs, "/srv")`` is
    ``"/srv"``) then gets EROFS instead of littering the host. Files opened before stay writable:
    they belong to the host's mount, not to this namespace's copy.
    """
    # Every mount read-only (a separate /tmp, /home or /var too), then the writable folders
    # bound over themselves and made writable again: new mounts, whose flags are this
    # namespace's own, so clearing read-only is allowed even in a user namespace.
    syscalls.mount_setattr("/", syscalls.MOUNT_ATTR_RDONLY, recursive=True)
    for path in ("/proc", "/dev"):  # uid_map for nested user namespaces; /dev/null, /dev/pts
        syscalls.mount_setattr(path, attr_clr=syscalls.MOUNT_ATTR_RDONLY, recursive=True)
    for path in writable:
        syscalls.mount(path, path, None, syscalls.MS_BIND | syscalls.MS_REC)
        syscalls.mount_setattr(path, attr_clr=syscalls.MOUNT_ATTR_RDONLY, recursive=True)


def format_exception(exc: BaseException) -> str:
    """The traceback without this module's own frames: what the learner's code did."""
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) == _HERE:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()


def _children() -> list[int]:
    pids = []
    task_dir = f"/proc/{os.getpid()}/task"
    for tid in os.listdir(task_dir):
        try:
            with open(f"{task_dir}/{tid}/children") as f:
                pids += [int(p) for p in f.read().split()]
        except FileNotFoundError:
            pass
    return pids


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def leftover_processes() -> list[str]:
    """Kill what is still running below this process; return a description of each."""
    _reap()
    found = []
    for _ in range(3):  # a killed child's orphans come back to us as subreaper
        pids = _children()
        if not pids:
            break
        for pid in pids:
            found.append(f"PID {pid} ({_command_line(pid)})")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
        _reap()
    return found


def _send(fd: int, payload: dict) -> None:
    if "result" in payload:
        payload["result"] = wire.encode(payload["result"])
    wire.send(fd, payload)


def _child(fd: int, func: Callable[..., Any], args: tuple, kwargs: dict,
           leaves_mounts: bool, writable: list[str] | None) -> None:
    me = os.getpid()
    payload: dict[str, Any]
    try:
        ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        enter_private_mount_namespace()
        if writable is not None:
            protect_host_root(writable)
        namespace = os.stat("/proc/self/ns/mnt").st_ino
        before = {m.mount_id for m in mountinfo.read()}
        result = func(*args, **kwargs)
        if os.getpid() != me:  # the code under test forked and the copy returned here
            os._exit(0)
        problems = []
        if os.stat("/proc/self/ns/mnt").st_ino != namespace:
            problems.append("the code left the check's mount namespace (setns): mount only "
                            "inside the namespace it runs in, never in the host's.")
            leaves_mounts = True  # the table seen now is another namespace's: nothing to compare
        stray = leftover_processes()
        if stray:
            problems.append("a process started during the check was still running at its end: "
                            + ", ".join(stray) + ". Wait for the processes you start.")
        if not leaves_mounts:
            left = [m.mountpoint for m in mountinfo.read() if m.mount_id not in before]
            if left:
                problems.append("still mounted when the check ended: " + ", ".join(left)
                                + ". Unmount what you mount.")
        payload = ({"status": "error", "type": "SandboxError", "text": "\n".join(problems)}
                   if problems else {"status": "ok", "result": result})
    except BaseException as exc:  # noqa: B036 - SystemExit and KeyboardInterrupt come back too
        if os.getpid() != me:
            os._exit(0)
        leftover_processes()
        payload = {"status": "error", "type": type(exc).__name__, "text": format_exception(exc),
                   "message": str(exc)}
    try:
        _send(fd, payload)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def run(func: Callable[..., Any], *args: Any, timeout: float = 10.0, leaves_mounts: bool = False,
        writable: list[str] | None = None, **kwargs: Any) -> Any:
    """``func(*args, **kwargs)`` in a child with its own mount namespace; its result, or
    ``SandboxError`` (``ChildRaised`` when it raised, ``SandboxTimeout`` past ``timeout`` s).

    With ``writable``, the root filesystem is read-only in the child but for those folders.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.setpgid(0, 0)
        _child(w, func, args, kwargs, leaves_mounts, writable)
    os.close(w)
    payload = None
    deadline = time.monotonic() + timeout
    try:
        payload = wire.receive(r, deadline)
    except wire.WireError:
        pass
    finally:
        os.close(r)
        if payload is None:
            _kill_group(pid)
    status = _wait(pid, timeout=2.0)
    _kill_group(pid)  # anything the child started and left behind in its process group
    if payload is None and time.monotonic() >= deadline:
        raise SandboxTimeout(
            f"did not finish within {timeout:g} s and was stopped: an endless loop, a retry "
            "without a deadline, or a wait for a process that never ends?")
    if payload is None:
        raise SandboxError(f"the check's process ended without an answer ({_describe(status)}): "
                           "did the code call os._exit(), exec another program, or crash?")
    if payload.get("status") == "ok":
        return wire.decode(payload.get("result"))
    if payload.get("type") == "SandboxError":
        raise SandboxError(str(payload.get("text")))
    raise ChildRaised(str(payload.get("text")), str(payload.get("type")),
                      str(payload.get("message", "")))


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _wait(pid: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if done:
            return status
        if time.monotonic() > deadline:
            _kill_group(pid)
            return os.waitpid(pid, 0)[1]
        time.sleep(0.002)


def _describe(status: int | None) -> str:
    if status is None:
        return "status unknown"
    if os.WIFSIGNALED(status):
        return f"killed by signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"
