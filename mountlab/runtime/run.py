"""``container run``: the runtime process, from the parsed arguments to the command's exit status.

Three processes, each in its own module::

    runtime (host namespaces)      run.py: checks the run (plan.py), records the container,
      |                            holds its lock, removes its directory at the end
      +- keeper (new mount, UTS, PID namespaces; + user namespace when not root)
           |                       keeper.py: mounts the overlay root, /dev and the volumes
           |                       (mounts.py, through the active step 4), waits, then unmounts
           |                       the volumes through step 4
           +- init (PID 1; its own copy of the mount namespace)
                                   init.py: mounts /proc, pivot_root, execs the command

Read in this order, they follow ``./container run -v h:c busybox sh`` from the command line
(cli.py) to ``execve``. Signals go down the same chain (signals.py); errors come back up as one
line and Docker's exit codes (errors.py).

Both children die with their parent (PR_SET_PDEATHSIG) and the container's record is alive only
while the runtime holds its flock, so a killed runtime never leaves a ghost in ``ps``.
"""

from __future__ import annotations

import os
import time

from mountlab.runtime import learner, signals, state
from mountlab.runtime import plan as plans
from mountlab.runtime.errors import EXIT_RUNTIME, RunError, error, warn
from mountlab.runtime.keeper import Keeper
from mountlab.runtime.spec import clean_target
from mountlab.volume import volume_data_dir

TYPE_CHECKING = False  # typing costs milliseconds to import: only for the type checkers
if TYPE_CHECKING:
    from typing import Any

__all__ = ["run"]


def run(args: Any) -> int:
    """``container run``: the exit status of the command, or 125/126/127 like Docker."""
    keeper = Keeper(preload=bool(getattr(args, "volume", None) or getattr(args, "mount", None)))
    try:
        try:
            plan = plans.make(args)
        except learner.StepNotReady as exc:
            from mountlab.messages import say

            error(say("container.needed_by_v", error=exc))
            return EXIT_RUNTIME
        except RunError as exc:
            error(str(exc))
            return EXIT_RUNTIME
        try:
            return _start(plan, keeper)
        except RunError as exc:
            error(str(exc))
            return EXIT_RUNTIME
        except OSError as exc:
            from mountlab.messages import say

            error(say("container.cannot_start", error=exc))
            return EXIT_RUNTIME
    finally:
        keeper.cancel()  # the run ended before the keeper got its plan


def _start(plan: dict[str, Any], keeper: Keeper) -> int:
    """Record the container, have the keeper start it, and remove its directory at the end."""
    cid = state.new_container_id()
    os.makedirs(state.containers_dir(), mode=0o711, exist_ok=True)
    cdir = os.path.join(os.path.realpath(state.containers_dir()), cid)
    plans.place(plan, cid, cdir)
    plan["record"] = _record(plan)
    lock = state.create_container(cid, plan["record"])
    try:
        os.mkdir(plan["layer"], 0o755)
        status = _supervise(plan, keeper, lock)
    finally:
        os.close(lock)  # the record is dead from here on, whatever happens next
        if not state.remove_container(cid):
            if plan.get("keeper"):
                os.waitpid(plan.pop("keeper"), 0)  # its overlay may still have been going away
            if not state.remove_container(cid):
                warn(f"left {cdir} in place: something is mounted below it")
        if plan["rm"]:
            _remove_anonymous(plan["anonymous"])
    return status


def _record(plan: dict[str, Any]) -> dict[str, Any]:
    """The container's ``state.json``, as ``ps`` and ``inspect`` show it."""
    cid, now = plan["cid"], time.time()
    return {
        "id": cid, "name": plan["name"] or cid[:12], "image": plan["image"],
        "rootfs_lower": plan["lower"], "rootfs": plan["merged"], "command": plan["command"],
        "created": now, "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        + f".{int(now % 1 * 1e6):06d}Z", "status": "starting", "pid": None,
        "runtime_pid": os.getpid(), "hostname": plan["hostname"] or cid[:12],
        "userns": os.geteuid() != 0, "env": plan["env"],
        "volumes": [{"kind": v.kind, "name": v.source if v.kind == "volume" else None,
                     "source": volume_data_dir(v.source) if v.kind == "volume" else v.source,
                     "target": clean_target(v.target), "read_only": v.read_only,
                     "propagation": v.propagation or "rprivate", "modes": v.modes,
                     "anonymous": v.source in plan["anonymous"]} for v in plan["volumes"]],
        "tmpfs": [{"target": clean_target(t.target), "read_only": t.read_only,
                   "options": t.options()} for t in plan["tmpfs"]],
    }


def _supervise(plan: dict[str, Any], keeper: Keeper, lock: int) -> int:
    """Send the keeper the plan and follow its reports; the command's exit status."""
    pid = keeper.start(lock)
    signals.install(signals.to_keeper(pid))
    keeper.send(plan)
    # The keeper writes "P<pid>\n" when the command runs, then its exit status once the volumes
    # are unmounted; each is one write of a few bytes, so a read never gets half of one.
    reader, report = keeper.report_r, b""
    while chunk := os.read(reader, 64):
        report += chunk
        while report[:1] == b"P" and b"\n" in report:
            line, _, report = report.partition(b"\n")
            plan["record"].update(pid=int(line[1:]), status="running")
            state.write_state(plan["cid"], plan["record"])
        if report.isdigit():
            break  # no need to wait for the keeper's exit (its memory, its namespaces)
    os.close(reader)
    keeper.report_r = -1
    if report.isdigit():
        plan["keeper"] = pid  # still exiting: _start reaps it if it needs to
        return int(report)
    return signals.wait(pid)  # killed before it could report


def _remove_anonymous(names: set[str]) -> None:
    """``--rm``: the anonymous volumes' data goes with the container (never through a mount)."""
    if not names:
        return
    from mountlab import fsutil

    for name in names:
        path = os.path.dirname(volume_data_dir(name))
        if os.path.isdir(path) and not os.path.islink(path):
            try:
                fsutil.remove_tree(path, ignore_errors=True)
            except fsutil.MountedError:  # never deleted through a mount: left in place
                pass
