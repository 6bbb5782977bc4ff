"""The subject: the process where learner code runs, and nothing else.

It is forked from the zygote (an interpreter started afresh: no memory of the grader, not its
environment, not the checks, not the reference) by way of the run's nursery, already
unprivileged, in namespaces of its own (``nursery``, ``contain``). It answers requests on one
channel (``wire`` frames):

- ``load``: import step N's module from the graded folder;
- ``signature``: answer the signature of one of them;
- ``call``: call one function with JSON arguments, in the checker's working directory, umask and
  ``MOUNTLAB_*`` settings; answer what it returned or raised. While the call runs, the learner's
  code may reach a step that the check replaced by a double (``overridden``): that call goes back
  to the checker as a ``callback`` and its answer comes back here; or one that the check let this
  process run itself (``doubles``: the kit's doubles of steps 1-3, for a check whose verdict
  reads nothing they record).

The checker decides nothing from what this process says beyond "this is what the function
returned or raised": every verdict is observed from outside (mountinfo, stat, the host's files).
"""

from __future__ import annotations

import inspect
import os

from mountlab import impl, registry, syscalls
from mountlab.sandbox import limits, raised, wire

_HERE = (os.path.abspath(__file__), os.path.abspath(impl.__file__))
_EMPTY = {"$empty": True}


class _Remote:
    """A step the checker replaced by a double: each call is answered by the checker."""

    def __init__(self, fd: int, number: int) -> None:
        self._fd, self._number = fd, number
        self._functions = registry.entry(number).functions

    def __getattr__(self, name: str):
        if name not in self._functions:
            raise AttributeError(name)

        def call(*args, **kwargs):
            wire.send(self._fd, {"callback": {"step": self._number, "function": name,
                                              "args": wire.encode(list(args)),
                                              "kwargs": wire.encode(kwargs)}})
            answer = wire.receive(self._fd)
            if "raised" in answer:
                raise raised.rebuild(answer["raised"])
            return wire.decode(answer.get("returned"))

        call.__name__ = name
        return call


def _signature(func) -> list:
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return []
    return [[p.name, int(p.kind), _EMPTY if p.default is p.empty else wire.encode(p.default)]
            for p in parameters]


def _load(request: dict) -> dict:
    impl.load(request["step"])  # or what importing it raised (StepImportError, a missing function)
    return {"loaded": {}}  # the functions are the registry's: the checker knows them


def _signature_of(request: dict) -> dict:
    """Asked only by the checks that look at a signature: computing each function's on every load
    wrote some 150 pages in each subject (13 ms a check in a User-Mode Linux guest)."""
    function = getattr(impl.load(request["step"]), request["function"])
    return {"returned": _signature(function)}


def _call(fd: int, request: dict) -> dict:
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    for key, value in request["env"].items():
        if key.startswith("MOUNTLAB_"):
            os.environ[key] = value
    for number in request.get("overridden", []):
        impl._overrides[number] = _Remote(fd, number)
    if request.get("doubles"):  # the kit's doubles of steps 1-3, run here (doubles.in_subject)
        from mountlab.grading import doubles

        impl._overrides.update(doubles.in_subjects_process(request["doubles"]))
    userns = request.get("userns")
    if userns:
        return _call_in_user_namespace(fd, request, userns == "mount")
    return _returned(request)


def _returned(request: dict) -> dict:
    function = getattr(impl.load(request["step"]), request["function"])
    result = function(*wire.decode(request["args"]), **wire.decode(request["kwargs"]))
    return {"returned": wire.encode(result)}


def _call_in_user_namespace(fd: int, request: dict, mount_namespace: bool) -> dict:
    """The call, in a child in a user namespace of its own (with a mount namespace of its own
    too when ``mount_namespace``): what a rootless container's runtime sees."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            syscalls.unshare(syscalls.CLONE_NEWUSER
                             | (syscalls.CLONE_NEWNS if mount_namespace else 0))
            limits.dumpable(True)  # a moment: our own maps need our /proc files to be ours
            for name, text in (("setgroups", "deny"), ("uid_map", "0 0 1"), ("gid_map", "0 0 1")):
                with open(f"/proc/self/{name}", "w") as f:
                    f.write(text)
            limits.dumpable(False)
            answer = _answer(request)
        except BaseException as exc:  # noqa: B036 - the child never returns into the server
            answer = {"raised": raised.describe(exc, skip_files=_HERE)}
        try:
            wire.send(w, answer)
        finally:
            os._exit(0)
    os.close(w)
    try:
        answer = wire.receive(r)
    except wire.WireError:
        answer = {"raised": raised.describe(RuntimeError(
            "the call's process ended without an answer"))}
    finally:
        os.close(r)
        os.waitpid(pid, 0)  # gone before the answer reaches the checker
    return answer


def _answer(request: dict) -> dict:
    try:
        return _returned(request) if request["op"] == "call" else _load(request)
    except BaseException as exc:  # noqa: B036 - SystemExit, KeyboardInterrupt, pytest outcomes
        return {"raised": raised.describe(exc, skip_files=_HERE)}


def serve(fd: int) -> None:
    limits.dumpable(False)  # other subjects (the same host uid) may not ptrace or read this one
    wire.send(fd, {"ready": True})
    me = os.getpid()
    while True:
        request = wire.receive(fd)
        try:
            if request.get("op") == "load":
                answer = _load(request)
            elif request.get("op") == "call":
                answer = _call(fd, request)
            elif request.get("op") == "signature":
                answer = _signature_of(request)
            else:
                answer = {"raised": raised.describe(ValueError("unknown request"))}
        except BaseException as exc:  # noqa: B036 - whatever the learner's code raised
            answer = {"raised": raised.describe(exc, skip_files=_HERE)}
        finally:
            impl._overrides.clear()
        if os.getpid() != me:  # the learner's code forked and its copy came back here
            os._exit(0)
        wire.send(fd, answer)
