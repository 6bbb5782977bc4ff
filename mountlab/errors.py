"""The errors a volume operation raises, so that callers can tell them apart."""

from __future__ import annotations

import errno
import os


class VolumeError(OSError):
    """A volume could not be set up or torn down (the message names the paths and what to do)."""


class MountBusyError(VolumeError):
    """``target`` is still in use; ``pids`` hold it (working directory, root, open files)."""

    def __init__(self, target: str | os.PathLike, pids: tuple[int, ...] | list[int] = (),
                 message: str | None = None) -> None:
        pids = tuple(sorted(set(pids)))
        held = f" (held by PID {', '.join(map(str, pids))})" if pids else ""
        super().__init__(errno.EBUSY,
                         message or f"mount point is busy{held}; stop those processes or unmount "
                                    "lazily", os.fspath(target))
        self.pids = pids
        self.target = os.fspath(target)

    def __reduce__(self):  # keep pids across pickling (checks run in a child process)
        return (type(self), (self.target, self.pids, self.strerror))


class VolumeSpecError(ValueError):
    """A ``-v`` or ``--mount`` specification is invalid; the message follows Docker's wording."""

    def __init__(self, message: str, spec: str | None = None) -> None:
        super().__init__(message)
        self.spec = spec

    def __reduce__(self):
        return (type(self), (str(self), self.spec))
