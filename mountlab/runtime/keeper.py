"""The keeper: the process that owns the container's namespaces and mounts, and always tears
its volumes down.

``Keeper`` is the runtime's handle on it. It is forked as soon as the run starts: while the
runtime checks the specs (on the other CPU, when there is one), the keeper makes its namespaces
(mount, UTS, PID; and user when not root) and imports what mounting needs. It touches nothing on
the host until the runtime sends it the checked plan (one line of JSON on a pipe, see
``plan.to_json``); a refused run kills it.

Then, in the keeper (``_main`` and ``_start``), in the order the kernel sees them: the overlay
root, /dev, the host name, the tmpfs and volumes (``mounts``), the container's init
(``init.run``) and, once it has exited, the volumes' teardown through step 4. On the report pipe
the keeper writes ``P<pid>`` when the command runs and its exit status once the volumes are
unmounted.

Every mount happens in the keeper's private mount namespace: when the last process in it dies,
the kernel drops them all, so a ``kill -9`` at any moment leaves nothing mounted on the host.
"""

from __future__ import annotations

import os
import sys

from mountlab.runtime import plan as plans
from mountlab.runtime import rootfs
from mountlab.runtime.errors import EXIT_RUNTIME, report
from mountlab.runtime.signals import signal

TYPE_CHECKING = False  # typing costs milliseconds to import: only for the type checkers
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Keeper"]


class Keeper:
    """The runtime's side of the keeper process: fork it, send it the plan, or cancel it."""

    def __init__(self, preload: bool = False) -> None:
        self.pid: int | None = None
        self.plan_w = self.report_r = -1
        self.preload = preload
        try:
            self._fork()
        except OSError:
            pass  # tried again once the run is checked, and reported then (exit 125)

    def _fork(self, *private: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        plan_r, plan_w = os.pipe2(os.O_CLOEXEC)
        # The keeper reports its exit status here once the volumes are unmounted, so the runtime
        # need not wait while the kernel tears its namespaces down (tens of ms on a busy host).
        report_r, report_w = os.pipe2(os.O_CLOEXEC)
        try:
            pid = os.fork()
        except OSError:
            for fd in (plan_r, plan_w, report_r, report_w):
                os.close(fd)
            raise
        if pid == 0:
            for fd in (plan_w, report_r, *private):
                os.close(fd)
            _main(parent, plan_r, report_w, self.preload)  # never returns
        os.close(plan_r)
        os.close(report_w)
        self.pid, self.plan_w, self.report_r = pid, plan_w, report_r

    def start(self, lock: int) -> int:
        """The keeper's PID, forking it now if that failed when the run started (then without
        the lock: the runtime alone holds it, so that the record dies with the runtime)."""
        if self.pid is None:
            self._fork(lock)
        return self.pid

    def send(self, plan: dict[str, Any]) -> None:
        """Hand the keeper the checked plan: from here on it mounts."""
        data = plans.to_json(plan)
        fd, self.plan_w = self.plan_w, -1
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except BrokenPipeError:
            pass  # the keeper is gone: its exit status tells how
        finally:
            os.close(fd)

    def cancel(self) -> None:
        """The run ends before the plan was sent: the keeper has touched nothing, end it."""
        if self.report_r >= 0 and self.plan_w < 0:
            os.close(self.report_r)  # sent, then the runtime failed: the keeper dies with it
            self.report_r = -1
        if self.plan_w < 0:
            return
        os.close(self.plan_w)
        os.close(self.report_r)
        self.plan_w = self.report_r = -1
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


# ---------------------------------------------------------------------------------------------
# in the keeper process


def _main(parent: int, plan_r: int, report_w: int, preload: bool) -> None:
    """The keeper process: never returns. Its namespaces first, then the plan, then the rest.

    Until the plan comes, a ^C is only noted: a run refused or interrupted while being checked
    ends here without a word (the runtime says what there is to say); one that goes ahead is
    interrupted as soon as the plan is read, as it was before the keeper started early.
    """
    code, refused = EXIT_RUNTIME, False
    interrupted: list[int] = []
    try:
        previous = signal.getsignal(signal.SIGINT)
        if previous is signal.default_int_handler:
            signal.signal(signal.SIGINT, lambda signum, _frame: interrupted.append(signum))
        userns = os.geteuid() != 0
        failed: Exception | None = None
        try:
            from mountlab.runtime import namespaces

            namespaces.die_with_parent(signal.SIGKILL, parent)
            namespaces.create(user=userns)
            rootfs.make_private("/")
        except Exception as exc:  # noqa: BLE001 - said only if the run goes ahead
            failed = exc
        # What mounting needs, imported while the runtime checks the run.
        from mountlab.runtime import init, mounts  # noqa: F401
        if preload:  # what the steps' files import, ready before they run
            try:
                import mountlab.impl
                import mountlab.mountinfo  # noqa: F401
            except Exception:  # noqa: BLE001 - the step that imports it will say what is wrong
                pass
        data = _receive(plan_r)
        refused = not data
        signal.signal(signal.SIGINT, previous)
        if not refused:
            if interrupted:
                raise KeyboardInterrupt
            if failed is not None:
                raise failed
            code = _start(plans.from_json(data), userns, report_w)
    except BaseException as exc:  # noqa: BLE001 - a forked child must never return
        if not refused:
            report(exc)
    finally:
        if refused:
            os._exit(0)  # the run was refused or interrupted: nothing to say
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.write(report_w, b"%d" % code)
        finally:
            os._exit(code)


def _receive(fd: int) -> bytes:
    """What the runtime sent (b"" when it closed the pipe without sending a plan)."""
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def _start(plan: dict[str, Any], userns: bool, report_w: int) -> int:
    """The container's root, its mounts and its init; the command's exit status once the
    volumes are torn down."""
    from mountlab.runtime import init, mounts, namespaces

    merged = rootfs.mount_overlay(plan["lower"], plan["layer"], userns=userns)
    rootfs.setup_dev(merged, plan["tty"])
    namespaces.set_hostname(plan["hostname"])
    done: mounts.Done = []
    try:
        mounts.setup(plan, done)
        return init.run(plan, report_w)
    finally:
        mounts.teardown(plan, done)
