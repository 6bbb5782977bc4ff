"""``container ps``, ``inspect`` and ``exec``: looking at and into running containers."""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
import time

from mountlab.messages import say
from mountlab.runtime import errors, state

TYPE_CHECKING = False  # typing costs milliseconds to import: only for the type checkers
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ps", "inspect", "exec_in", "mounts_inside"]


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n > 1 else ''}"
    return "Less than a second" if seconds < 1 else f"{seconds} second{'s' if seconds > 1 else ''}"


def _command(record: dict[str, Any]) -> str:
    import shlex

    text = " ".join(shlex.quote(c) for c in record.get("command") or ())
    return f'"{text[:19]}…"' if len(text) > 20 else f'"{text}"'


def ps(quiet: bool = False, as_json: bool = False) -> int:
    """List the running containers (stale records of killed runtimes are removed first)."""
    records = state.list_containers()
    if quiet:
        for r in records:
            print(r["id"][:12])
        return 0
    if as_json:
        print(json.dumps(records, indent=2))
        return 0
    now = time.time()
    rows = [("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "MOUNTS", "NAMES")]
    for r in records:
        created = f"{_ago(now - r.get('created', now))} ago"
        status = (f"Up {_ago(now - r.get('created', now))}" if r.get("status") == "running"
                  else "Starting")
        mounts = ",".join(v.get("name") or v.get("source") or "" for v in r.get("volumes", []))
        rows.append((r["id"][:12], str(r.get("image", "")), _command(r), created, status,
                     mounts[:40], str(r.get("name", ""))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)]
        print("   ".join([*cells, row[-1]]).rstrip())
    return 0


def mounts_inside(pid: int) -> list[dict[str, Any]]:
    """The container's mounts as its processes see them: /proc/PID/mountinfo shows mount points
    relative to that process's root, so these are the paths inside the container."""
    from mountlab import mountinfo

    return [{"Destination": m.mountpoint, "Type": m.fstype, "Source": m.source, "Root": m.root,
             "RW": not m.read_only, "Options": ",".join(m.options),
             "Propagation": m.propagation, "MountID": m.mount_id, "ParentID": m.parent_id}
            for m in mountinfo.read(pid)]


def inspect(refs: list[str]) -> int:
    """Print a JSON list describing each container: its record, and its mounts seen from inside."""
    out, status = [], 0
    for ref in refs:
        try:
            record = state.find_container(ref)
        except LookupError as exc:
            errors.error(str(exc))
            status = 1
            continue
        pid = record.get("pid")
        mounts: list[dict[str, Any]] = []
        if pid:
            try:
                mounts = mounts_inside(pid)
            except OSError as exc:
                errors.error(say("container.cannot_read_mounts", ref=ref, error=exc))
                status = 1
        out.append({
            "Id": record["id"], "Name": record.get("name"), "Image": record.get("image"),
            "Command": record.get("command"), "Created": record.get("started"),
            "State": {"Status": record.get("status"), "Running": record.get("status") ==
                      "running", "Pid": pid, "RuntimePid": record.get("runtime_pid")},
            "Hostname": record.get("hostname"), "UserNamespace": record.get("userns"),
            "Rootfs": {"Image": record.get("rootfs_lower"), "Merged": record.get("rootfs")},
            "Volumes": record.get("volumes", []), "Tmpfs": record.get("tmpfs", []),
            "MountsInside": mounts,
        })
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return status


def exec_in(ref: str, command: list[str]) -> int:
    """Run ``command`` inside a running container: join its namespaces, then fork (a PID
    namespace applies to children only) and exec. Exit codes like ``run``."""
    from mountlab.runtime import namespaces

    try:
        record = state.find_container(ref)
    except LookupError as exc:
        errors.error(str(exc))
        return 125
    pid = record.get("pid")
    if not pid or record.get("status") != "running":
        errors.error(say("container.not_running", ref=ref))
        return 125
    env = dict(record.get("env") or {"PATH": "/usr/bin:/bin"})
    if os.isatty(1) and "TERM" not in env:
        env["TERM"] = os.environ.get("TERM") or "xterm"
    try:
        namespaces.join(pid)
    except OSError as exc:
        errors.error(say("container.cannot_enter", ref=ref, error=exc))
        return 125
    # From here on our root is the container's: nothing more may be imported from the host.
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        code = 126
        try:
            for signum in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):
                signal.signal(signum, signal.SIG_DFL)
            os.closerange(3, 1 << 20)  # nothing of the runtime's may reach the container
            os.execvpe(command[0], command, env)
        except OSError as exc:
            code = 127 if exc.errno == errno.ENOENT else 126
            where = "executable file not found in $PATH" if code == 127 and "/" not in \
                command[0] else exc.strerror.lower()
            os.write(2, f'container: error: exec: "{command[0]}": {where}\n'.encode())
        finally:
            os._exit(code)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal sends ^C to the command itself
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code
