"""How ``container run`` fails: the exit codes, ``RunError``, and the one-line messages.

Docker's exit codes: the command's own status, 125 when the runtime fails (a refused spec
included), 126 when the command cannot run, 127 when it is not found. Every message is one line
``container: error: ...`` on stderr, so that a script can grep it; a step of the learner's that
raises something unexpected also gets the frames of its own file.
"""

from __future__ import annotations

import sys

from mountlab.runtime import learner

__all__ = ["EXIT_RUNTIME", "EXIT_CANNOT_RUN", "EXIT_NOT_FOUND", "RunError", "error", "warn",
           "readme", "learner_bug", "report"]

EXIT_RUNTIME, EXIT_CANNOT_RUN, EXIT_NOT_FOUND = 125, 126, 127


class RunError(Exception):
    """The run is refused or the runtime failed: exit 125 with this one-line message."""


def _one_line(text: str) -> str:
    # A path may hold a newline or a tab: the error must stay one line a script can grep.
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def error(message: str) -> None:
    """Print ``container: error: <message>`` on stderr, on one line."""
    sys.stderr.write(f"container: error: {_one_line(message)}\n")
    sys.stderr.flush()


def warn(message: str) -> None:
    """Print ``container: warning: <message>`` on stderr, on one line."""
    sys.stderr.write(f"container: warning: {_one_line(message)}\n")
    sys.stderr.flush()


def readme(number: int) -> str:
    """The README of step ``number``, for "see ..." at the end of a message."""
    from mountlab import lang, registry

    return registry.get(number).readme(lang.chosen())


def learner_bug(exc: learner.StepFailed, call: str) -> None:
    """A step raised something other than a clear refusal: show where in the learner's file,
    then raise the ``RunError`` naming the step and its README."""
    from mountlab.messages import say

    frames = learner.learner_frames(exc.error)
    if frames and not isinstance(exc.error, OSError):
        sys.stderr.write(f"{say('container.traceback')}\n{frames}")
    raise RunError(say("container.learner_bug", number=exc.step, call=call,
                       error=learner.describe(exc.error), readme=readme(exc.step))) from None


def report(exc: BaseException) -> None:
    """The last words of a process of the container that failed (the keeper): one line."""
    if isinstance(exc, SystemExit):
        return
    from mountlab.messages import say

    if isinstance(exc, (RunError, learner.StepNotReady)):
        error(str(exc))
    elif isinstance(exc, OSError):
        error(say("container.cannot_start", error=exc))
    elif isinstance(exc, KeyboardInterrupt):
        error(say("container.interrupted"))
    else:
        import traceback

        traceback.print_exc()
        error(say("container.runtime_failed", error=f"{type(exc).__name__}: {exc}"))
