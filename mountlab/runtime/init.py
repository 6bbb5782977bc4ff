"""The container's first process (PID 1 in its PID namespace), from fork to ``execve``.

The keeper forks it once every mount is in place (``run``), then passes signals on to it and
waits. The init takes its own copy of the mount namespace (so that the keeper keeps seeing the
volumes at their host paths, to hand exactly those to step 4's teardown), mounts /proc,
pivot_roots into the container's root, closes every other descriptor and execs the command.

When the exec fails, the init writes ``<exit code> <message>`` on a close-on-exec pipe; a
successful exec closes it without a word, and the keeper reports the command as running.
"""

from __future__ import annotations

import os
import sys

from mountlab.runtime import rootfs, signals
from mountlab.runtime.errors import EXIT_CANNOT_RUN, EXIT_NOT_FOUND, EXIT_RUNTIME, error

TYPE_CHECKING = False  # typing costs milliseconds to import: only for the type checkers
if TYPE_CHECKING:
    from typing import Any

__all__ = ["run"]


def run(plan: dict[str, Any], report: int) -> int:
    """Start the init of ``plan`` and wait for it: the command's exit status (or 126/127 and the
    message when it could not be executed). Writes ``P<pid>`` on ``report`` once it runs."""
    keeper = os.getpid()
    reader, writer = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    init = os.fork()
    if init == 0:
        os.close(reader)
        _main(plan, keeper, writer)  # never returns
    os.close(writer)
    signals.install(signals.to_init(init))
    # The init writes here only when it fails; the pipe closes without data when exec succeeds.
    chunks = []
    while chunk := os.read(reader, 65536):
        chunks.append(chunk)
    os.close(reader)
    failure = b"".join(chunks)
    if not failure:
        os.write(report, b"P%d\n" % init)  # the runtime records it as running
    status = signals.wait(init)
    if failure:
        code, _, message = failure.decode(errors="replace").partition(" ")
        error(message)
        return int(code) if code.isdigit() else EXIT_RUNTIME
    return status


def _main(plan: dict[str, Any], keeper: int, writer: int) -> None:
    """PID 1 of the container: never returns (exec or _exit)."""
    from mountlab import syscalls
    from mountlab.runtime import namespaces

    code, message = EXIT_RUNTIME, "the container's init failed"
    try:
        namespaces.die_with_parent(signals.signal.SIGKILL, keeper, new_pid_ns=True)
        # Our own copy of the mount namespace: pivot_root here leaves the keeper's view intact.
        syscalls.unshare(syscalls.CLONE_NEWNS)
        rootfs.mount_proc(plan["merged"])
        rootfs.pivot(plan["merged"])
        signals.reset_for_exec()
        # Only 0, 1, 2 and the error pipe (close-on-exec) may reach exec (runc CVE-2024-21626).
        os.closerange(3, writer)
        os.closerange(writer + 1, 1 << 20)
        command = plan["command"]
        try:
            os.execvpe(command[0], command, plan["env"])
        except OSError as exc:
            code, message = _exec_failure(command[0], exc)
    except BaseException as exc:  # noqa: BLE001 - report anything, never return to the caller
        message = f"cannot start the container: {exc}"
    try:
        os.write(writer, f"{code} {message}".encode(errors="replace"))
    finally:
        os._exit(code)


def _exec_failure(program: str, exc: OSError) -> tuple[int, str]:
    import errno

    if exc.errno == errno.ENOENT:
        if "/" in program:
            return EXIT_NOT_FOUND, f'exec: "{program}": no such file or directory'
        return EXIT_NOT_FOUND, f'exec: "{program}": executable file not found in $PATH'
    if exc.errno == errno.EACCES and "/" in program and os.path.isdir(program):
        return EXIT_CANNOT_RUN, f'exec: "{program}": is a directory'
    return EXIT_CANNOT_RUN, f'exec: "{program}": {exc.strerror.lower()}'
