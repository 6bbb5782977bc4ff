"""Test doubles of steps 1-3, so that the checks of a later step grade that step's own logic.

``Steps123`` does the work of ``setup_volume``, ``mount_volume`` and ``unmount_volume`` in the
simplest way that really mounts (plain ``os.makedirs``, one ``MS_BIND|MS_REC`` bind, a read-only
remount of the top mount, ``umount2`` until EINVAL), records every call in order, and can be told
to fail on the k-th call of a function::

    doubles = Steps123()
    doubles.fail_on("mount_volume", 3)
    with doubles.installed():      # step(1), step(2) and step(3) are now the doubles
        ...
    doubles.calls                  # [Call("mount_volume", (source, target), read_only=False), ...]

A failure raises ``InjectedFailure`` (a ``VolumeError``) before the double does anything, so a
check can tell the very error it caused from any other.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace

from mountlab import impl, syscalls
from mountlab.errors import VolumeError

__all__ = ["Call", "InjectedFailure", "Steps123"]


_FUNCTIONS = {1: "setup_volume", 2: "mount_volume", 3: "unmount_volume"}


@contextlib.contextmanager
def in_subject() -> Iterator[None]:
    """Steps 1-3 are the doubles inside the ``with``, run by the learner's code's own process
    (the check's subject) rather than each call crossing to the check's process and back.

    For a check that makes thousands of calls and reads nothing the doubles record: its verdict
    rests on the kernel's state alone, which the learner's code could set by itself anyway, so a
    double it tampers with wins it nothing. Nothing is recorded and no failure can be injected:
    a check that needs either uses ``Steps123().installed()``.
    """
    steps = Steps123()
    with impl.use(1, _InSubject(steps.step(1))), impl.use(2, _InSubject(steps.step(2))), \
            impl.use(3, _InSubject(steps.step(3))):
        yield


class _InSubject(SimpleNamespace):
    """A step's double that the subject runs itself (``in_subject``); where no subject runs the
    learner's code, the double itself."""

    def __init__(self, module: SimpleNamespace) -> None:
        super().__init__(**vars(module))


def in_subjects_process(numbers: list[int]) -> dict[int, SimpleNamespace]:
    """In the subject: steps ``numbers`` as doubles of its own (``in_subject``)."""
    steps = Steps123()
    return {number: steps.step(number) for number in numbers if number in _FUNCTIONS}


def runs_in_subject(module: object) -> bool:
    """``module``, a step's stand-in, is one that the subject runs itself (``in_subject``)."""
    return isinstance(module, _InSubject)


class InjectedFailure(VolumeError):
    """The failure a check asked a double for."""


@dataclass(frozen=True)
class Call:
    function: str  # "setup_volume", "mount_volume" or "unmount_volume"
    args: tuple[str, ...]  # the paths, as strings
    read_only: bool = False  # mount_volume's read_only
    failed: bool = False  # the double raised InjectedFailure for this call


class Steps123:
    """Doubles of steps 1, 2 and 3 sharing one call log (``calls``, in the order of the calls)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: list[InjectedFailure] = []  # the errors raised, in order
        self._fail: dict[str, set[int]] = {}
        self._count: dict[str, int] = {}  # calls so far, per function: no rescans

    def fail_on(self, function: str, *calls: int) -> Steps123:
        """Make the ``calls``-th calls (1 for the first) of ``function`` raise InjectedFailure."""
        self._fail.setdefault(function, set()).update(calls)
        return self

    @contextlib.contextmanager
    def installed(self) -> Iterator[Steps123]:
        """``step(1)``, ``step(2)`` and ``step(3)`` are these doubles inside the ``with``.

        Each step gets only its own function, as the real modules have: ``step(2).setup_volume``
        is an AttributeError here too.
        """
        with impl.use(1, self.step(1)), impl.use(2, self.step(2)), impl.use(3, self.step(3)):
            yield self

    def step(self, number: int) -> SimpleNamespace:
        """Step ``number`` (1, 2 or 3) as a module holding its double."""
        name = _FUNCTIONS[number]
        return SimpleNamespace(**{name: getattr(self, name)})

    # -- what the checks read ---------------------------------------------------------------

    def is_failure(self, exc: BaseException, index: int = 0) -> bool:
        """``exc`` is the ``index``-th failure a double raised, as the learner's code let it
        through (it comes back from the process that ran that code as an equal copy)."""
        if index >= len(self.failures):
            return False
        failure = self.failures[index]
        return isinstance(exc, InjectedFailure) and (exc.errno, str(exc)) == \
            (failure.errno, str(failure))

    def of(self, function: str) -> list[Call]:
        """The calls of ``function``, failed ones included."""
        return [c for c in self.calls if c.function == function]

    def mounted(self) -> list[str]:
        """The targets of the mount_volume calls, in order, but those that failed on purpose."""
        return [c.args[1] for c in self.of("mount_volume") if not c.failed]

    def unmounted(self) -> list[str]:
        """The targets of the unmount_volume calls, in order, but those that failed on purpose."""
        return [c.args[0] for c in self.of("unmount_volume") if not c.failed]

    # -- the steps --------------------------------------------------------------------------

    def setup_volume(self, volume_path: str, container_path: str) -> None:
        self._record("setup_volume", volume_path, container_path)
        for path in (volume_path, container_path):
            os.makedirs(path, mode=0o755, exist_ok=True)

    def mount_volume(self, source: str, target: str, *, read_only: bool = False) -> None:
        self._record("mount_volume", source, target, read_only=read_only)
        if not os.path.exists(source):
            raise FileNotFoundError(errno.ENOENT, "bind source path does not exist", source)
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        if os.path.isdir(source):
            os.makedirs(target, mode=0o755, exist_ok=True)
        elif not os.path.exists(target):
            open(target, "x").close()
        syscalls.mount(source, target, None, syscalls.MS_BIND | syscalls.MS_REC)
        if read_only:
            syscalls.mount(None, target, None,
                           syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY)

    def unmount_volume(self, target: str, *, timeout: float = 2.5, lazy: bool = False) -> None:
        self._record("unmount_volume", target)
        flags = syscalls.MNT_DETACH if lazy else 0
        while True:  # pop stacked mounts until the kernel says it is no longer a mount point
            try:
                syscalls.umount2(target, flags)
            except OSError as exc:
                if exc.errno in (errno.EINVAL, errno.ENOENT):
                    break
                raise
        if os.path.isdir(target) and not os.path.islink(target):
            os.rmdir(target)
        elif os.path.lexists(target):
            os.unlink(target)

    def _record(self, function: str, *paths: str, read_only: bool = False) -> None:
        number = self._count[function] = self._count.get(function, 0) + 1
        failed = number in self._fail.get(function, ())
        self.calls.append(Call(function, tuple(map(os.fspath, paths)), read_only, failed))
        if failed:
            error = InjectedFailure(errno.EIO, f"{function} failed on purpose (call {number}, "
                                    "injected by the check)", os.fspath(paths[-1]))
            self.failures.append(error)
            raise error
