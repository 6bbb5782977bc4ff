"""One graded check: the check's code in a checker process, learner code in a subject process.

``run(func, kwargs, ...)`` is what the pytest plugin calls for each graded check. The grading
process forks the checker, which joins the run's checker namespaces (``contain.join_checker``),
starts the subject (``contain.start_subject``), runs the check's body with ``impl.step(N)``
answered by the subject (``remote``), and sends back one JSON frame: passed, or the exception
that failed the check. The grading process decides the verdict from that frame alone, within
the time limit.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import time
from collections.abc import Callable

from mountlab import impl, syscalls
from mountlab.messages import say
from mountlab.sandbox import contain, observe, remote, resident, userns, wire, zygote
from mountlab.sandbox.throwaway import ChildRaised, SandboxError, SandboxTimeout

MAX_OUTPUT = 64 << 10  # what the learner's code printed, shown with the check's result


def run(func: Callable[..., object], kwargs: dict, *, scratch: list[str], timeout: float,
        leaves_mounts: bool = False) -> None:
    """Run the check ``func(**kwargs)``; return when it passed, raise ``SandboxError`` (or
    ``ChildRaised`` with what failed it, ``SandboxTimeout``) otherwise."""
    if os.geteuid() == 0:  # the checker and the subject work in scratch as the subject uid
        uid = userns.subject_uid()
        for path in scratch:
            _chown_tree(path, uid)
            # Its parent is what gets bound (so the folder is no mount point): the subject uid
            # may pass through it (not list it: pytest makes it 0700).
            parent = os.path.dirname(path)
            mode = os.stat(parent).st_mode
            if mode & 0o011 != 0o011:
                os.chmod(parent, (mode & 0o7777) | 0o011)
    zygote.start()
    syscalls._lib()  # loaded before the fork, not in each checker
    namespaces = contain.checker_namespaces(scratch, impl.active_folder())
    sys.stdout.flush()
    sys.stderr.flush()
    deadline = time.monotonic() + timeout
    # The run's checker answers the checks it can name (``resident``); the others get a checker
    # forked for them.
    request = resident.request(func, kwargs, timeout, leaves_mounts)
    answer = None if request is None else resident.ask(namespaces, request, deadline)
    if request is None or (answer or {}).get("fallback"):
        answer = _forked(namespaces, func, kwargs, timeout, leaves_mounts, deadline)
    if answer is None:
        if time.monotonic() >= deadline:
            raise SandboxTimeout(say("sandbox.timed_out", timeout=timeout))
        raise SandboxError(say("sandbox.no_answer"))
    if answer.get("output"):
        sys.stdout.write(str(answer["output"]))
    if "failed" in answer:
        failed = answer["failed"]
        kind = str(failed.get("type", "Exception"))
        from_subject = failed.get("origin") != "checker"
        if kind == "SandboxError" and not from_subject:
            raise SandboxError(str(failed.get("message", "")))
        raise ChildRaised(str(failed.get("traceback", "")), kind,
                          message=str(failed.get("message", "")), from_subject=from_subject)


def _forked(namespaces: contain.CheckerNamespaces, func: Callable[..., object], kwargs: dict,
            timeout: float, leaves_mounts: bool, deadline: float) -> dict | None:
    """The check in a checker of its own, forked for it (``resident`` answers the others)."""
    result_r, result_w = os.pipe()
    gc.freeze()  # the checker would otherwise copy every page the collector walks through
    pid = os.fork()
    if pid == 0:
        gc.disable()  # short-lived: its garbage goes with it
        os.setpgid(0, 0)
        os.close(result_r)
        _checker(result_w, namespaces, func, kwargs, timeout, leaves_mounts)
    os.close(result_w)
    try:
        return wire.receive(result_r, deadline)
    except wire.WireError:
        return None
    finally:
        os.close(result_r)
        _end(pid)


def _chown_tree(path: str, uid: int) -> None:
    """Hand the check's fresh scratch folder to the subject uid (no symlink is followed)."""
    os.lchown(path, uid, uid)
    for top, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(top, name), uid, uid)


_dying: list[int] = []  # checkers killed, not yet reaped


def _end(pid: int) -> None:
    """Kill the checker and everything of its process group; reap it later (its exit, the
    unmapping of a copy of the grading process, takes milliseconds the next check need not
    wait for: its zombie keeps its pid from being reused meanwhile)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    _dying.append(pid)
    reap()


def reap(block: bool = False) -> None:
    """Reap the checkers that have ended (all of them, waiting, with ``block``: the run's
    checker is ended first)."""
    if block:
        resident.stop()
    resident.reap(block)
    resident.reap_pids(_dying, block)


# -- in the checker -------------------------------------------------------------------------------

def _checker(result: int, namespaces: contain.CheckerNamespaces, func: Callable[..., object],
             kwargs: dict, timeout: float, leaves_mounts: bool) -> None:
    answer: dict = {}
    try:
        from mountlab.grading import checks

        cwd = os.getcwd()
        checks.keep_programs()
        proc_fd = contain.join_checker(namespaces)
        observe.use(proc_fd)
        answer = one_check(proc_fd, namespaces, cwd, func, kwargs, timeout,
                           leaves_mounts)
    except BaseException as exc:  # noqa: B036 - every outcome becomes a frame for the grader
        answer["failed"] = _failure(exc)
    try:
        wire.send(result, answer)
    finally:
        os._exit(0)


def one_check(proc_fd: int, namespaces: contain.CheckerNamespaces, cwd: str,
              func: Callable[..., object], kwargs: dict, timeout: float,
              leaves_mounts: bool) -> dict:
    """The check's body, in a checker that has joined the checkers' namespaces: start its
    subject, run ``func(**kwargs)`` with the graded code answered by the subject, look for what
    it left behind; return the frame for the grader. The subject is killed when this returns,
    and this process is back in the checkers' mount namespace."""
    answer: dict = {}
    subject = None
    try:
        from mountlab.grading import checks

        subject = contain.start_subject(proc_fd, impl.active(), int(timeout) + 2, namespaces)
        os.chdir(cwd)
        checks.hold_in(subject.user_ns)
        impl.serve_from(remote.Channel(subject.channel))
        before = observe.mount_ids()
        func(**kwargs)
        problems = []
        stray = observe.processes_in(subject.pid_ns, {subject.pid, *_holders()}, subject.pid)
        if stray:
            problems.append(say("sandbox.stray_processes", processes=", ".join(stray)))
        if not leaves_mounts:
            left = [m.mountpoint for m in observe.mounts_since(before)]
            if left:
                problems.append(say("sandbox.still_mounted", mounts=", ".join(left)))
        if problems:
            answer["failed"] = {"type": "SandboxError", "message": "\n".join(problems),
                                "origin": "checker"}
    except BaseException as exc:  # noqa: B036 - every outcome becomes a frame for the grader
        answer["failed"] = _failure(exc)
    if subject is not None:
        try:
            answer["output"] = _output(subject.output)
        except OSError:
            pass
        subject.kill()
        subject.close()
    return answer


def _holders() -> list[int]:
    from mountlab.grading import checks

    return checks.holder_pids()


def _failure(exc: BaseException) -> dict:
    text = getattr(exc, "traceback_text", None)
    if text is None:
        import traceback

        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001
        message = type(exc).__name__
    # Raised by learner code (rebuilt from the subject's answer): its class name is the learner's
    # to choose, so it is shown as theirs, never taken for one of the kit's own outcomes.
    origin = "subject" if hasattr(exc, "traceback_text") else "checker"
    kind = getattr(exc, "subject_type", None) or type(exc).__name__
    return {"type": kind, "message": message[:20_000], "traceback": text[-20_000:],
            "origin": origin}


def _output(fd: int) -> str:
    size = os.fstat(fd).st_size
    data = os.pread(fd, MAX_OUTPUT, 0)
    text = data.decode(errors="replace")
    if size > MAX_OUTPUT:
        text += f"\n[... {size - MAX_OUTPUT} more bytes of output not shown]\n"
    return text
