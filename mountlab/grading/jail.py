"""Run one submission's whole grading run in a jail of its own.

``python -m mountlab.grading.jail WRITABLE... [--hide PATH]... [--tmpfs PATH]... -- COMMAND...``
runs COMMAND (the pytest run that grades one learner) in a new mount namespace and a new PID
namespace, where:

- ``/`` is private, so nothing mounted inside propagates to the host (systemd makes it shared);
- ``/`` is read-only, except the WRITABLE folders (the submission's scratch folder) and fresh tmpfs
  on ``/tmp``, ``/var/tmp``, ``/run`` and ``/dev/shm``: a submission cannot write into the kit, the
  other submissions or the gradebook; it gets EROFS, which the grader reports;
- each ``--tmpfs PATH`` (a folder inside a WRITABLE one: where the checks make their folders) is
  a fresh tmpfs of the jail's own, gone with it: a check's thousand folders cost the disk nothing;
- each ``--hide PATH`` is covered by an empty folder (the running Python's own files excepted):
  ``./workshop release`` proves so that a learner copy needs nothing from the instructor's tree;
- a fresh ``/proc`` shows only the jail's processes, and when COMMAND ends the kernel kills every
  process left in the PID namespace (a daemon that escaped with ``setsid`` and double fork too).

This is the outer layer, against accidents: the boundary against a learner who attacks the grader
on purpose is each check's subject process (``mountlab.sandbox``), where learner code runs
unprivileged.

Without root (or without namespaces) COMMAND runs as it is, and a note says so on stderr.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import traceback
from collections.abc import Callable

from mountlab import syscalls

_PR_SET_PDEATHSIG = 1
TMPFS_DIRS = ("/tmp", "/var/tmp", "/run", "/dev/shm")
NOTE = "mountlab-jail:"  # prefix of the lines the grader reads on stderr
ENV = "MOUNTLAB_JAILED"


def _note(text: str) -> None:
    print(f"{NOTE} {text}", file=sys.stderr, flush=True)


def _covered(path: str) -> bool:
    return any(path == d or path.startswith(d + "/") for d in TMPFS_DIRS)


def _filesystem(writable: list[str], hide: list[str], tmpfs: list[str]) -> None:
    """Read-only ``/`` with writable holes; runs as PID 1 of the jail, in its mount namespace."""
    # What must stay visible under a fresh tmpfs (/tmp...): the kit, the working directory, the
    # interpreter (read-only), and the writable folders. Keep a handle on each before covering.
    from mountlab import registry

    visible = {os.path.realpath(p) for p in (os.getcwd(), registry.KIT_ROOT, sys.prefix,
                                             sys.base_prefix)}
    keep = sorted((p, False) for p in visible if _covered(p) and os.path.isdir(p))
    keep += sorted((p, True) for p in writable)
    fds = [os.open(path, os.O_PATH | os.O_DIRECTORY) for path, _ in keep]
    _hide(hide)
    try:
        syscalls.mount_setattr("/", syscalls.MOUNT_ATTR_RDONLY, recursive=True)
        read_only = True
    except OSError as exc:  # mount_setattr needs Linux >= 5.12
        _note(f"cannot make / read-only ({exc.strerror}): writes outside are not refused")
        read_only = False
    syscalls.mount("proc", "/proc", "proc", syscalls.MS_NOSUID | syscalls.MS_NODEV
                   | syscalls.MS_NOEXEC)
    for path in TMPFS_DIRS:
        if os.path.isdir(path) and not os.path.islink(path):
            syscalls.mount("tmpfs", path, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV,
                           "mode=1777,size=512m")
    for (path, rw), fd in zip(keep, fds, strict=True):
        os.makedirs(path, exist_ok=True)  # inside a fresh tmpfs when it covered the path
        # A bind through the handle brings the folder back; it is read-only like its source.
        syscalls.mount(f"/proc/self/fd/{fd}", path, None, syscalls.MS_BIND | syscalls.MS_REC)
        if rw and read_only:
            syscalls.mount_setattr(path, 0, syscalls.MOUNT_ATTR_RDONLY, recursive=True)
        os.close(fd)
    for path in tmpfs:
        # Neither nosuid nor nodev: the checks' user namespaces would find them locked, and
        # their read-only remounts there would fail where they do not on a disk.
        syscalls.mount("tmpfs", path, "tmpfs", 0, "mode=0755,size=512m")


def _hide(paths: list[str]) -> None:
    """Cover each of ``paths`` with an empty read-only tmpfs, except the running interpreter's
    installation (a virtualenv inside the kit) which is put back."""
    for path in paths:
        keep = sorted({p for p in (os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix))
                       if p.startswith(path.rstrip("/") + "/")})
        fds = [os.open(k, os.O_PATH | os.O_DIRECTORY) for k in keep]
        syscalls.mount("tmpfs", path, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV,
                       "mode=0755,size=1m")
        for k, fd in zip(keep, fds, strict=True):
            os.makedirs(k, exist_ok=True)
            syscalls.mount(f"/proc/self/fd/{fd}", k, None, syscalls.MS_BIND | syscalls.MS_REC)
            os.close(fd)
        syscalls.mount(None, path, None, syscalls.MS_REMOUNT | syscalls.MS_RDONLY
                       | syscalls.MS_NOSUID | syscalls.MS_NODEV, "mode=0755,size=1m")


def _leftovers(main: int) -> list[str]:
    """The processes still running in the jail besides PID 1 and ``main``."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in (1, main):
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            found.append(f"PID {name} ({cmd or '?'})")
    return found


Command = list[str] | Callable[[], int]  # a program to exec, or a function to call (prefork)


def _become(command: Command) -> None:
    """Turn into ``command``: exec the program, or call the function and exit with its result."""
    if not callable(command):
        os.execvp(command[0], command)
    code = 1
    try:
        code = int(command())
    except BaseException:  # noqa: B036 - this process exits here, whatever happened
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _init(command: Command, writable: list[str], hide: list[str], tmpfs: list[str]) -> None:
    """PID 1 of the jail: set up the filesystem, run ``command``, reap, exit with its status."""
    code = 125
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        _filesystem(writable, hide, tmpfs)
        os.environ[ENV] = "1"
        child = os.fork()
        if child == 0:
            try:
                _become(command)
            finally:
                os._exit(127)
        while True:
            pid, status = os.wait()
            if pid == child:
                code = os.waitstatus_to_exitcode(status)
                code = 128 - code if code < 0 else code
                break
        stray = _leftovers(child)
        if stray:
            _note("processes still running when the grading ended (killed): " + ", ".join(stray))
    except BaseException:  # noqa: B036 - PID 1 must never return into the caller's code
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)  # the kernel kills whatever is left in the PID namespace


def run(writable: list[str], command: Command, hide: list[str] = (),
        tmpfs: list[str] = ()) -> int:
    """Run ``command`` jailed; return its exit status (``128 + signal`` when killed)."""
    writable = [os.path.realpath(w) for w in writable]
    hide = [os.path.realpath(h) for h in hide]
    tmpfs = [os.path.realpath(t) for t in tmpfs]
    if os.geteuid() != 0:
        _note("not root: grading without the jail (no private mount and PID namespaces)")
        _become(command)
    try:
        syscalls.unshare(syscalls.CLONE_NEWNS | syscalls.CLONE_NEWPID)
        syscalls.mount("none", "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
    except OSError as exc:
        _note(f"no namespaces here ({exc.strerror}): grading without the jail")
        _become(command)
    pid = os.fork()
    if pid == 0:
        _init(command, writable, hide, tmpfs)
    # This process stays outside the PID namespace: it only waits. Killing it kills PID 1
    # (PDEATHSIG), and with PID 1 the whole jail.
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    usage = ("usage: python -m mountlab.grading.jail WRITABLE... [--hide PATH]... [--tmpfs PATH]..."
             " -- COMMAND...")
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print(usage, file=sys.stderr)
        return 2
    cut = argv.index("--")
    writable, named, options = [], {"--hide": [], "--tmpfs": []}, iter(argv[:cut])
    for arg in options:
        if arg in named:
            named[arg].append(next(options, ""))
        else:
            writable.append(arg)
    if "" in named["--hide"] + named["--tmpfs"]:
        print(usage, file=sys.stderr)
        return 2
    return run(writable, argv[cut + 1:], named["--hide"], named["--tmpfs"])


if __name__ == "__main__":
    sys.exit(main())
