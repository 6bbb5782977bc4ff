"""An exception raised by learner code, carried as data and rebuilt on the checking side.

The subject sends the class's name and the names of its bases, the message, the ``OSError``
fields, ``MountBusyError.pids``, ``VolumeSpecError.spec`` and the traceback's text. The checking
side rebuilds an instance of the nearest class it knows (the kit's errors, the doubles' injected
failure, Python's built-in exceptions): a learner's own ``class Oops(VolumeError)`` comes back as a
``VolumeError``. Nothing is unpickled; no learner class is ever instantiated outside the subject.

Whatever is not an ``Exception`` (``SystemExit``, ``KeyboardInterrupt``, pytest's skip, xfail and
exit outcomes) comes back as ``Escaped``: an ordinary failure, never a skip or a pass.
"""

from __future__ import annotations

import builtins
import traceback
from types import TracebackType

from mountlab import errors
from mountlab.messages import say

_MAX_TEXT = 20_000
_MAX_IN_TRACEBACK = 2_000  # a message in the traceback's text: its frames stay in view
_MAX_CHAIN = 10  # exceptions of a chain (``raise ... from``, during handling), notes of each
_MAX_FRAMES = 200  # the innermost frames of each traceback (a recursion has a thousand)
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


class Escaped(Exception):
    """Learner code raised something that is not an ``Exception``; the check fails."""


class SubjectDied(Exception):
    """The process running the learner's code ended (or broke the channel) during a call."""


def _known() -> dict[str, type[BaseException]]:
    from mountlab.grading.doubles import InjectedFailure
    from mountlab.impl import StepImportError

    known = {name: cls for name, cls in vars(builtins).items()
             if isinstance(cls, type) and issubclass(cls, Exception)}
    for cls in (errors.VolumeError, errors.MountBusyError, errors.VolumeSpecError,
                InjectedFailure, StepImportError):
        known[cls.__name__] = cls
    return known


def describe(exc: BaseException, *, skip_files: tuple[str, ...] = ()) -> dict:
    """``exc`` as JSON data (in the subject). Frames of ``skip_files`` are left out of the text."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in skip_files:
        tb = tb.tb_next
    data: dict = {
        "type": type(exc).__name__,
        "bases": [c.__name__ for c in type(exc).__mro__[1:]],
        "message": _text(exc),
        "traceback": _traceback(exc, tb)[-_MAX_TEXT:],
    }
    if isinstance(exc, OSError):
        data.update(errno=_int(exc.errno), strerror=_str(exc.strerror),
                    filename=_str(exc.filename), filename2=_str(exc.filename2))
    pids = getattr(exc, "pids", None)
    if isinstance(pids, (list, tuple)):
        data["pids"] = [p for p in pids if isinstance(p, int) and not isinstance(p, bool)][:1000]
    spec = getattr(exc, "spec", None)
    if isinstance(spec, str):
        data["spec"] = spec[:_MAX_TEXT]
    return data


def rebuild(data: dict) -> BaseException:
    """The exception ``describe`` described (on the checking side), with ``traceback_text``."""
    known = _known()
    names = [_str(data.get("type")) or "Exception"] + [
        n for n in data.get("bases", []) if isinstance(n, str)]
    message = _str(data.get("message")) or ""
    if "Exception" not in names:
        exc: BaseException = Escaped(say("sandbox.escaped", kind=names[0], message=message))
    else:
        cls = next(known[n] for n in names if n in known)
        exc = _instance(cls, data, message)
    exc.traceback_text = _str(data.get("traceback")) or ""  # type: ignore[attr-defined]
    exc.subject_type = names[0]  # type: ignore[attr-defined]
    return exc


def _instance(cls: type[BaseException], data: dict, message: str) -> BaseException:
    if issubclass(cls, errors.MountBusyError):
        return cls(_str(data.get("filename")) or "", data.get("pids") or (),
                   _str(data.get("strerror")))
    if issubclass(cls, errors.VolumeSpecError):
        return cls(message, _str(data.get("spec")))
    if issubclass(cls, OSError) and isinstance(data.get("errno"), int):
        args = [data["errno"], _str(data.get("strerror")) or message]
        if data.get("filename") is not None:
            args.append(data["filename"])
            if data.get("filename2") is not None:
                args += [0, data["filename2"]]
        try:
            return cls(*args)
        except Exception:  # noqa: BLE001 - a kit class with another constructor
            pass
    try:
        return cls(message)
    except Exception:  # noqa: BLE001
        return Exception(message)


def _traceback(exc: BaseException, tb: TracebackType | None) -> str:
    """The text ``traceback.format_exception`` would give, each message cut (at
    ``_MAX_IN_TRACEBACK``) before it is formatted: a learner's 100 MB message is never copied
    (each copy costs a page fault per 4 kB, 150 µs each in a User-Mode Linux guest)."""
    chain: list[tuple[BaseException, TracebackType | None, str]] = []
    seen: set[int] = set()
    link = ""
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(chain) < _MAX_CHAIN:
        seen.add(id(current))
        chain.append((current, tb, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, _CONTEXT
        else:
            current = None
        tb = current.__traceback__ if current is not None else None
    parts = []
    for one, one_tb, link in reversed(chain):  # the oldest first, as Python prints them
        if one_tb is not None:
            parts.append("Traceback (most recent call last):\n")
            parts += traceback.format_tb(one_tb, limit=-_MAX_FRAMES)
        message = _text(one, _MAX_IN_TRACEBACK)
        parts.append(f"{_type_name(type(one))}: {message}\n" if message
                     else f"{_type_name(type(one))}\n")
        notes = getattr(one, "__notes__", None)
        if isinstance(notes, (list, tuple)):
            parts += [f"{note[:_MAX_IN_TRACEBACK]}\n" for note in notes[:_MAX_CHAIN]
                      if isinstance(note, str)]
        if link:
            parts.append(link)
    return "".join(parts).rstrip()


def _type_name(cls: type) -> str:
    module = getattr(cls, "__module__", None)
    name = str(getattr(cls, "__qualname__", cls.__name__))
    return name if module in (None, "__main__", "builtins") else f"{module}.{name}"


def _text(exc: BaseException, limit: int = _MAX_TEXT) -> str:
    try:
        text = str(exc)  # a str message comes back as it is: not copied
    except Exception:  # noqa: BLE001 - a __str__ that raises
        return f"<{type(exc).__name__}>"
    if not isinstance(text, str):
        return f"<{type(exc).__name__}>"
    if len(text) <= limit:
        return text
    return text[:limit] + say("sandbox.cut", count=len(text) - limit)


def _str(value: object) -> str | None:
    return value[:_MAX_TEXT] if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
