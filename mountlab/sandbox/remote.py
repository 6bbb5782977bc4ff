"""The checker's side of the channel: step modules whose functions run in the subject.

``impl.step(N)`` in the checker returns a ``RemoteStep``; calling one of its functions sends the
arguments (as JSON) with the checker's working directory, umask and ``MOUNTLAB_*`` settings, serves
the callbacks to the doubles a check installed (``impl.use``), and returns what the subject's
function returned, or raises what it raised, rebuilt (``raised.rebuild``).
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Iterator

from mountlab import impl, registry
from mountlab.messages import say
from mountlab.sandbox import raised, wire

_userns: str | None = None  # "mount" or "bare": the next calls run in a user namespace below


class Channel:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.ready = False
        self.steps: dict[int, RemoteStep] = {}

    def ask(self, request: dict) -> object:
        if not self.ready:
            self._expect({"ready"})
            self.ready = True
        wire.send(self.fd, request)
        while True:
            answer = self._expect({"returned", "raised", "loaded", "callback"})
            if "callback" in answer:
                wire.send(self.fd, _serve(answer["callback"]))
                continue
            if "raised" in answer:
                raise raised.rebuild(answer["raised"])
            return answer.get("returned", answer.get("loaded"))

    def _expect(self, keys: set[str]) -> dict:
        try:
            answer = wire.receive(self.fd)
        except wire.WireError as exc:
            raise raised.SubjectDied(say("sandbox.subject_died", error=exc)) from None
        if not keys & answer.keys():
            raise raised.SubjectDied(say("sandbox.out_of_turn"))
        return answer

    def step(self, number: int) -> RemoteStep:
        if number not in self.steps:
            self.steps[number] = RemoteStep(self, number)
        return self.steps[number]


def _serve(callback: dict) -> dict:
    """A call from learner code to a step the check replaced by a double (in this process)."""
    try:
        number, name = callback["step"], callback["function"]
        if name not in registry.entry(number).functions or number not in impl._overrides:
            raise AttributeError(f"step {number} has no function {name}() here")
        function = getattr(impl._overrides[number], name)
        result = function(*wire.decode(callback["args"]), **wire.decode(callback["kwargs"]))
        return {"returned": wire.encode(result)}
    except Exception as exc:  # the double's error goes back to the learner's code
        return {"raised": raised.describe(exc)}


class RemoteStep:
    """Step ``number`` of the graded code, living in the subject."""

    def __init__(self, channel: Channel, number: int) -> None:
        self._channel = channel
        self._number = number
        self._functions = {name: RemoteFunction(self, name)
                           for name in registry.entry(number).functions}
        channel.ask({"op": "load", "step": number})  # raises what importing it raised

    def __getattr__(self, name: str):
        try:
            return self.__dict__["_functions"][name]
        except KeyError:
            raise AttributeError(name) from None

    def call(self, name: str, args: tuple, kwargs: dict) -> object:
        return self._channel.ask({
            "op": "call", "step": self._number, "function": name,
            "args": wire.encode([os.fspath(a) if isinstance(a, os.PathLike) else a
                                 for a in args]),
            "kwargs": wire.encode(kwargs), "cwd": os.getcwd(), "umask": _umask(),
            "env": {k: v for k, v in os.environ.items() if k.startswith("MOUNTLAB_")},
            **_stand_ins(), "userns": _userns})

    def signature(self, name: str) -> inspect.Signature | None:
        """The signature of function ``name`` as the subject sees it (None: one Python itself
        would refuse; the signature check then says so)."""
        parameters = self._channel.ask({"op": "signature", "step": self._number,
                                        "function": name})
        try:
            return inspect.Signature([
                inspect.Parameter(p, inspect._ParameterKind(kind),
                                  default=inspect.Parameter.empty if default == {"$empty": True}
                                  else wire.decode(default))
                for p, kind, default in parameters])
        except (TypeError, ValueError):
            return None


class RemoteFunction:
    """A function of the graded step: each call runs in the subject; its signature is asked there
    when a check looks at it (``inspect.signature``)."""

    def __init__(self, step: RemoteStep, name: str) -> None:
        self._step = step
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args: object, **kwargs: object) -> object:
        return wire.decode(self._step.call(self.__name__, args, kwargs))

    def __repr__(self) -> str:
        return f"<function {self.__name__} of step {self._step._number}, run in the subject>"

    @property
    def __signature__(self) -> inspect.Signature | None:
        return self._step.signature(self.__name__)


def _stand_ins() -> dict[str, list[int]]:
    """The steps the check replaced: ``overridden``, answered here (each call a callback), and
    ``doubles``, which the subject runs itself (``doubles.in_subject``)."""
    if not impl._overrides:
        return {"overridden": [], "doubles": []}
    from mountlab.grading import doubles

    local = {n for n, module in impl._overrides.items() if doubles.runs_in_subject(module)}
    if local and _userns:  # there the doubles' mounts would land where the checker cannot look
        raise RuntimeError("doubles.in_subject() cannot serve calls made in a user namespace "
                           "below the subject's (in_user_namespace): use Steps123().installed()")
    return {"overridden": sorted(set(impl._overrides) - local), "doubles": sorted(local)}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def in_user_namespace(*, mount_namespace: bool = True) -> Iterator[None]:
    """The calls inside run in a user namespace below the subject's (with a mount namespace of
    its own when ``mount_namespace``: the check's mounts are then locked, as a rootless
    container sees them; without one, the code may no longer unmount them: EPERM)."""
    global _userns
    before, _userns = _userns, ("mount" if mount_namespace else "bare")
    try:
        yield
    finally:
        _userns = before
