"""The run's checker: one process that runs the body of every check of a grading run, in turn.

Forking the grading process for each check copied its page tables and then, page by page, what
the check touched (about a third of a check's CPU time). The run's checker is forked once, after
collection, so it already holds every check's code; it joins the checkers' namespaces once
(``contain.join_checker``) and then, for each check the grading process names, runs
``check.one_check``: a subject of the check's own, the body, what it left behind, one JSON frame
back. Between two checks it puts back what a check may change in its process: working directory,
umask, environment, the doubles, the mount namespace (the checkers'), and ends the check's
holders. Learner code never runs here, only in each check's subject, as before.

What it is sent is data only, JSON from the grading process (the function's module and name, the
fixtures' values as plain values and paths): nothing on this pipe is unpickled, evaluated or
imported, whoever wrote it. A check it cannot name (a function made on the fly, a module imported
after it was forked) or whose fixtures are not plain values gets a checker forked for it, as
before (``{"fallback": true}``). On a time limit the grading process kills it with everything
of its process group; the next check starts another.
"""

from __future__ import annotations

import gc
import json
import linecache
import os
import signal
import struct
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PosixPath

from mountlab import impl, registry, syscalls
from mountlab.sandbox import contain, observe, remote, wire, zygote

_HEADER = struct.Struct("!I")


@dataclass
class _Resident:
    pid: int
    requests: int  # the grading process writes requests here
    answers: int  # and reads one frame per request here
    namespaces: contain.CheckerNamespaces
    owner: int  # the grading process
    zygote: int  # the zygote it asks for subjects
    modules: frozenset[str]  # the modules it holds


_current: _Resident | None = None
_dying: list[int] = []


@dataclass
class Request:
    module: str
    data: bytes


def request(func: Callable[..., object], kwargs: dict, timeout: float,
            leaves_mounts: bool) -> Request | None:
    """The request naming this check, or None when it cannot be named."""
    module, qualname = getattr(func, "__module__", None), getattr(func, "__qualname__", "")
    if not module or "<" in qualname or _find(module, qualname) is not func:
        return None
    mask = os.umask(0)
    os.umask(mask)
    try:
        plain = {name: _plain(value) for name, value in kwargs.items()}
    except TypeError:  # a fixture's value that is not plain data: fork for it
        return None
    data = json.dumps({"module": module, "qualname": qualname, "kwargs": plain,
                       "timeout": timeout, "leaves_mounts": leaves_mounts,
                       "cwd": os.getcwd(), "umask": mask, "env": dict(os.environ)}).encode()
    return Request(module, data)


def _plain(value: object) -> object:
    """``value`` as JSON, tagged where JSON alone would lose its type (paths, tuples); exact
    types only, so that no subclass's methods run in the checker."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is PosixPath:
        return {"$path": str(value)}
    if type(value) in (list, tuple):
        return {f"${type(value).__name__}": [_plain(item) for item in value]}
    if type(value) is dict and all(type(key) is str for key in value):
        return {"$dict": {key: _plain(item) for key, item in value.items()}}
    raise TypeError(type(value).__name__)


def _unplain(value: object) -> object:
    if not isinstance(value, dict):
        return value
    (tag, inner), = value.items()
    if tag == "$path":
        return PosixPath(inner)
    if tag == "$dict":
        return {key: _unplain(item) for key, item in inner.items()}
    items = [_unplain(item) for item in inner]
    return tuple(items) if tag == "$tuple" else items


def ask(namespaces: contain.CheckerNamespaces, asked: Request, deadline: float) -> dict | None:
    """Have the run's checker run the check: its frame, or None (no answer by ``deadline``, or
    it died: it is then killed, and the next check starts another)."""
    resident = _ready(namespaces)
    if asked.module not in resident.modules:
        return {"fallback": True}
    try:
        _send(resident.requests, asked.data)
        return wire.receive(resident.answers, deadline)
    except (wire.WireError, OSError):
        stop()
        return None


def stop() -> None:
    """End the run's checker (in the grading process), with its process group; reaped later."""
    global _current
    resident, _current = _current, None
    if resident is None or resident.owner != os.getpid():
        return
    for fd in (resident.requests, resident.answers):
        os.close(fd)
    try:
        os.killpg(resident.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    _dying.append(resident.pid)


def reap(block: bool = False) -> None:
    """Reap the run's checkers that have ended (all, waiting, with ``block``)."""
    reap_pids(_dying, block)


def reap_pids(pids: list[int], block: bool = False) -> None:
    """Reap the children in ``pids`` that have ended (all, waiting, with ``block``), removing
    them from the list."""
    for pid in list(pids):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            pids.remove(pid)


def _ready(namespaces: contain.CheckerNamespaces) -> _Resident:
    global _current
    resident = _current
    if resident is not None and resident.owner == os.getpid() and \
            resident.namespaces is namespaces and resident.zygote == zygote._pid:
        return resident
    if resident is not None and resident.owner == os.getpid():
        stop()
    _current = None
    requests_r, requests_w = os.pipe()
    answers_r, answers_w = os.pipe()
    gc.freeze()  # it would otherwise copy every page the collector walks through
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)  # its checks' holders with it: one killpg ends them all
            os.close(requests_w)
            os.close(answers_r)
            _serve(requests_r, answers_w, namespaces)
        finally:
            os._exit(0)
    os.close(requests_r)
    os.close(answers_w)
    _current = _Resident(pid, requests_w, answers_r, namespaces, os.getpid(), zygote._pid,
                         frozenset(sys.modules))
    return _current


# -- in the run's checker -------------------------------------------------------------------------

def _serve(requests: int, answers: int, namespaces: contain.CheckerNamespaces) -> None:
    from mountlab.grading import checks
    from mountlab.sandbox import check

    try:
        checks.keep_programs()
        _keep_sources()
        proc_fd = contain.join_checker(namespaces)
        observe.use(proc_fd)
    except BaseException as exc:  # noqa: B036 - said in the first check's frame
        failed = check._failure(exc)
        if _receive(requests) is not None:
            wire.send(answers, {"failed": failed})
        return
    while (data := _receive(requests)) is not None:
        try:
            asked = json.loads(data)
            kwargs = {name: _unplain(value) for name, value in asked["kwargs"].items()}
            func = _find(asked["module"], asked["qualname"])
        except Exception:  # noqa: BLE001
            func = None
        if func is None:
            wire.send(answers, {"fallback": True})
            continue
        os.environ.clear()
        os.environ.update(asked["env"])
        os.umask(asked["umask"])
        answer = check.one_check(proc_fd, namespaces, asked["cwd"], func,
                                 kwargs, asked["timeout"], asked["leaves_mounts"])
        _tidy(namespaces)
        sys.stdout.flush()
        sys.stderr.flush()
        wire.send(answers, answer)


def _tidy(namespaces: contain.CheckerNamespaces) -> None:
    """What a check may have left in this process, put back for the next one."""
    from mountlab.grading import checks

    impl._overrides.clear()
    impl.serve_from(None)
    remote._userns = None
    for pid in list(checks._holders):  # gone with the subject's pid namespace already
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    checks._holders.clear()
    checks.hold_in(None)
    while True:  # its holders and whatever else the check started
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    syscalls.setns(namespaces.mnt, syscalls.CLONE_NEWNS)  # out of the subject's, now gone
    os.chdir("/")


def _keep_sources() -> None:
    """The checks' source lines, read while the kit's tree is still visible: tracebacks show
    them once the checkers' namespaces cover it (a forked checker had them from the grader)."""
    kit = registry.kit_root().rstrip("/") + "/"
    hidden_later = (os.path.join(kit, "mountlab") + "/", os.path.realpath(sys.prefix) + "/")
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None) or ""
        if path.endswith(".py") and path.startswith(kit) and not path.startswith(hidden_later):
            linecache.getlines(path)


def _find(module: str, qualname: str) -> Callable[..., object] | None:
    """The check named so: a function defined in a test module already loaded, nothing else
    (not a builtin, not a class, not a function of the kit or of the standard library)."""
    found: object = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    is_check = isinstance(found, types.FunctionType) and found.__module__ == module and \
        module.rpartition(".")[2].startswith("test_")
    return found if is_check else None


def _send(fd: int, data: bytes) -> None:
    data = _HEADER.pack(len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def _receive(fd: int) -> bytes | None:
    """One request, or None when the grading process is done with us."""
    try:
        size = _HEADER.unpack(_read(fd, _HEADER.size))[0]
        return _read(fd, size)
    except EOFError:
        return None


def _read(fd: int, size: int) -> bytes:
    buf = b""
    while len(buf) < size:
        chunk = os.read(fd, size - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf
