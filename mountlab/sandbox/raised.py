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

from mountlab import errors
from mountlab.messages import say

_MAX_TEXT = 20_000


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
    text = "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()
    data: dict = {
        "type": type(exc).__name__,
        "bases": [c.__name__ for c in type(exc).__mro__[1:]],
        "message": _text(exc),
        "traceback": text[-_MAX_TEXT:],
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


def _text(exc: BaseException) -> str:
    try:
        return str(exc)[:_MAX_TEXT]
    except Exception:  # noqa: BLE001 - a __str__ that raises
        return f"<{type(exc).__name__}>"


def _str(value: object) -> str | None:
    return value[:_MAX_TEXT] if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
