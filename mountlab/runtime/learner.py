"""Calling the active implementation of a step (``mountlab.impl``) from the runtime, and saying
which step to work on when it is not ready: ``NotImplementedError`` (a skeleton) or a file that
does not import becomes a ``StepNotReady`` naming the step and its README."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs milliseconds to import: only for the type checkers
if TYPE_CHECKING:
    from typing import Any

__all__ = ["StepNotReady", "StepFailed", "call", "describe", "learner_frames"]


class StepNotReady(Exception):
    """A step's code cannot run yet; the message says which step and which README to read."""


class StepFailed(Exception):
    """A step's code raised; ``step`` is where (the innermost step file in the traceback)."""

    def __init__(self, step: int, function: str, error: BaseException) -> None:
        from mountlab.messages import say

        super().__init__(say("container.step_failed", function=function, error=describe(error)))
        self.step, self.function, self.error = step, function, error


def _label(number: int) -> tuple[str, str]:
    from mountlab import lang, registry
    from mountlab.messages import say

    s = registry.get(number)
    chosen = lang.chosen()
    return (say("container.step_label", number=s.number, title=s.title[chosen]),
            s.readme(chosen))


def _step_files() -> dict[str, int]:
    from mountlab import impl, registry

    files = {}
    for s in registry.steps():
        try:
            files[os.fspath(impl.path_of(s.number))] = s.number
        except Exception:  # noqa: BLE001 - a broken registry entry must not hide the real error
            continue
    return files


def _origin(error: BaseException, default: int) -> int:
    """The step whose file raised ``error`` (innermost frame), else ``default``."""
    import traceback

    files = _step_files()
    found = default
    for frame, _ in traceback.walk_tb(error.__traceback__):
        found = files.get(frame.f_code.co_filename, found)
    return found


def _step_of_import_error(error: BaseException, default: int) -> int:
    text = str(error)
    for path, number in _step_files().items():
        if path in text:
            return number
    return default


def describe(error: BaseException) -> str:
    """One line for an exception, like ``FileNotFoundError: [Errno 2] ...: '/x'``."""
    text = str(error) or repr(error)
    return text if isinstance(error, OSError) else f"{type(error).__name__}: {text}"


def learner_frames(error: BaseException) -> str:
    """The traceback of ``error`` limited to frames in the steps' files (what the learner wrote)."""
    import traceback

    files = _step_files()
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename in files]
    if not frames:
        return ""
    return "".join(traceback.format_list(frames))


def _say(key: str, **fields: Any) -> str:
    from mountlab.messages import say  # only on the way to an error: ./container starts fast

    return say(key, **fields)


def call(number: int, function: str, *args: Any, **kwargs: Any) -> Any:
    """``impl.step(number).<function>(*args, **kwargs)``, with readiness errors explained."""
    from mountlab import impl

    try:
        module = impl.step(number)
    except impl.StepImportError as exc:
        which = _step_of_import_error(exc, number)
        label, readme = _label(which)
        raise StepNotReady(_say("container.cannot_be_used", label=label, error=exc,
                                readme=readme)) from None
    try:
        return getattr(module, function)(*args, **kwargs)
    except NotImplementedError as exc:
        which = _origin(exc, number)
        label, readme = _label(which)
        detail = f" ({exc})" if str(exc) else ""
        raise StepNotReady(_say("container.not_done", label=label, detail=detail,
                                readme=readme)) from None
    except impl.StepImportError as exc:  # an earlier step, loaded by this one
        which = _step_of_import_error(exc, number)
        label, readme = _label(which)
        raise StepNotReady(_say("container.cannot_be_used", label=label, error=exc,
                                readme=readme)) from None
    except Exception as exc:
        raise StepFailed(_origin(exc, number), function, exc) from exc
