"""Signals along the chain runtime -> keeper -> init, and the exit status they leave.

The runtime and the keeper must outlive the command (to record its end and to unmount its
volumes), so each passes on what it receives to its child instead of dying. ^C and ^\\ from a
terminal already reach the whole foreground process group: they are passed on only when stdin is
not a terminal (a script's ``kill -INT``).
"""

from __future__ import annotations

import os

try:
    # The C module behind ``signal``: the same calls and numbers, without the enums that
    # ``signal`` builds at import (a millisecond of every run).
    import _signal as signal
except ImportError:  # pragma: no cover - a Python without it
    import signal  # type: ignore[no-redef]

TYPE_CHECKING = False  # typing costs milliseconds to import: only for the type checkers
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Handler = Callable[[int, Any], None]

__all__ = ["signal", "FORWARDED", "INTERACTIVE", "to_keeper", "to_init", "install",
           "reset_for_exec", "wait"]

FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
INTERACTIVE = (signal.SIGINT, signal.SIGQUIT)


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def to_keeper(keeper: int) -> Handler:
    """The runtime's handler: pass signals on to the keeper."""
    def handler(signum: int, _frame: Any) -> None:
        if signum in INTERACTIVE and os.isatty(0):
            return  # the terminal sent it to the whole foreground group, the keeper included
        _kill(keeper, signum)
    return handler


def to_init(init: int) -> Handler:
    """The keeper's handler: pass signals on to the container's PID 1.

    A PID 1 without a handler ignores ^C (like ``docker run`` without ``--init``): the third
    one kills it. From a terminal the command got the signal already; else it is passed on.
    """
    count = [0]

    def handler(signum: int, _frame: Any) -> None:
        if signum in INTERACTIVE:
            count[0] += 1
            if count[0] >= 3:
                signum = signal.SIGKILL
            elif os.isatty(0):
                return
        _kill(init, signum)
    return handler


def install(handler: Handler) -> None:
    """Catch every signal that is passed on with ``handler``."""
    for signum in FORWARDED + INTERACTIVE:
        signal.signal(signum, handler)


def reset_for_exec() -> None:
    """The defaults back before exec: Python ignores SIGPIPE and SIGXFSZ; the command must not."""
    for signum in (*FORWARDED, *INTERACTIVE, signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(signum, signal.SIG_DFL)


def wait(pid: int) -> int:
    """Wait for ``pid``; its exit status, or 128+N when signal N killed it (as a shell says)."""
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code
