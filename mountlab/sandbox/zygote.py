"""The zygote: the process every subject is forked from.

Starting a fresh interpreter for each check costs a tenth of a second; forking one that is
already running costs a millisecond. The zygote is started once per grading process, with
``execve`` (-I -S -B, a scrubbed environment), so its memory holds the kit's sandbox code and
nothing of the grader's: no checks, no reference, no environment. Learner code never runs in the
zygote itself, only in the subjects forked from it by way of a nursery, after they have left its
privileges (``nursery``, ``contain.start_in_nursery``).

A checker asks for a subject by sending a JSON request and seven descriptors (its user and mount
namespaces, the subjects' user and network namespaces, the subject's end of the channel, the
output buffer, a pipe that closes when the checker goes) on the control socket, which only the
grading process and its checkers hold.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import sys

from mountlab import registry

_BOOT = ("import sys; sys.path.insert(0, sys.argv[2]); "
         "from mountlab.sandbox.zygote import serve; serve(int(sys.argv[1]))")
# Imported by the zygote before it forks: what every subject needs (the sandbox, the kit's modules
# that step modules import, the standard modules loading one pulls in, and those learners' code
# commonly uses). Importing them in each subject cost about 8 ms of CPU per check. Not
# ``subprocess``: it imports ``threading``, whose handler runs in every forked child (a millisecond
# natively, 27 ms in a User-Mode Linux guest, for each check); a learner's code that uses it
# imports it in its subject.
PRELOAD = ("mountlab.sandbox.contain", "mountlab.sandbox.nursery", "mountlab.sandbox.subject",
           "mountlab.errors", "mountlab.mountinfo", "mountlab.volume", "mountlab.fsutil",
           "importlib.util", "pathlib", "glob", "shutil", "errno", "stat", "time", "signal",
           "inspect", "json")
#: The environment of the zygote, and so of every subject (which adds its MOUNTLAB_IMPL), with
#: the grader's GLIBC_TUNABLES when it has one (set for a reason: UML on AVX-512 processors).
ENVIRONMENT = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/"}
_LINK = b"link"
_control: socket.socket | None = None
_owner = 0  # the pid that started it: a fork of the grader reuses it, never restarts it
_pid = 0
_pidfd: int | None = None


def link(fds: list[int]) -> None:
    """Ask the zygote (from a checker, a fork of the grading process) to hand ``fds[4]``, one end
    of a socket, to the nursery of the checker's namespaces (``fds[:4]``: checker user, checker
    mount, subjects' user, subjects' network): the checker asks that nursery for its subjects
    directly from then on (``nursery``)."""
    if _control is None:
        raise OSError("no zygote: call zygote.start() in the grading process first")
    socket.send_fds(_control, [_LINK], fds)


def start() -> None:
    """Start the zygote unless it runs already (in the grading process, before forking): from
    the prefork server's template when there is one (``template``), else afresh."""
    global _control, _owner, _pid, _pidfd
    if _control is not None and _owner == os.getpid() and _alive():
        return
    if _control is not None:
        _control.close()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    interpreter()  # known here, so each checker forked later knows it too
    from mountlab.sandbox import template

    pid = template.make(theirs)
    _pidfd = None if pid is None else _open_pidfd(pid)  # not our child: how we see it end
    if pid is None:
        pid = exec_fresh(_BOOT, theirs)
    theirs.close()
    _control, _owner, _pid = ours, os.getpid(), pid


def exec_fresh(boot: str, sock: socket.socket) -> int:
    """Fork a fresh interpreter (``-I -S -B``, a scrubbed environment) running ``boot`` with
    ``sock`` as its end of the control socket, that dies with us; its pid."""
    python = interpreter()
    pid = os.fork()
    if pid == 0:
        try:
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)
            os.set_inheritable(sock.fileno(), True)
            os.closerange(3, sock.fileno())
            os.closerange(sock.fileno() + 1, 1 << 16)
            env = dict(ENVIRONMENT)
            if os.environ.get("GLIBC_TUNABLES"):
                env["GLIBC_TUNABLES"] = os.environ["GLIBC_TUNABLES"]
            os.execve(python, [python, "-I", "-S", "-B", "-c", boot, str(sock.fileno()),
                               registry.kit_root()], env)
        finally:
            os._exit(127)
    return pid


def _open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


def stop() -> None:
    """End the zygote (in the process that started it) and wait for it: it goes when it reads
    the end of its control socket."""
    global _control, _pidfd
    if _control is None or _owner != os.getpid():
        return
    _control.close()
    _control = None
    if _pidfd is not None:  # made by the template: not our child, its pidfd says when it ends
        import select

        select.select([_pidfd], [], [], 10)
        os.close(_pidfd)
        _pidfd = None
        return
    try:
        os.waitpid(_pid, 0)
    except ChildProcessError:
        pass


@functools.cache
def interpreter() -> str:
    """The Python the subjects run: the grader's own, unless an unprivileged uid cannot read its
    files (a pyenv under /root); then the system's."""
    import sysconfig

    ours = os.path.realpath(sys.executable)
    if _open_to_all(ours) and _open_to_all(sysconfig.get_paths()["stdlib"]):
        return ours
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate) and _open_to_all(os.path.realpath(candidate)):
            return os.path.realpath(candidate)
    return ours


def _open_to_all(path: str) -> bool:
    """Every folder on the way may be crossed by anyone, and the end read."""
    import stat

    path = os.path.abspath(path)
    try:
        if not os.stat(path).st_mode & stat.S_IROTH:
            return False
        while path != "/":
            path = os.path.dirname(path)
            if not os.stat(path).st_mode & stat.S_IXOTH:
                return False
    except OSError:
        return False
    return True


def _alive() -> bool:
    import select

    readable = select.select([_control], [], [], 0)[0]
    return not readable  # it never writes: readable means closed


def preload() -> None:
    """What every subject needs, in memory once, before any fork."""
    import gc
    import importlib

    from mountlab import syscalls

    for name in PRELOAD:
        importlib.import_module(name)
    # Started with exactly ENVIRONMENT; kept so here, once, rather than rebuilt in each subject
    # (clearing os.environ there wrote some 200 pages: in a guest, 17 ms a check).
    for name in set(os.environ) - {*ENVIRONMENT, "GLIBC_TUNABLES"}:
        del os.environ[name]
    os.environ.update(ENVIRONMENT)
    registry.entry(1)  # steps.toml read once here, not in each subject
    syscalls._lib()  # loaded once here, not in each forked child (ctypes costs milliseconds)
    gc.freeze()  # a subject's collector never walks (and so copies) the zygote's pages


def serve(control: int) -> None:
    """The zygote's loop: each checker's link goes to the nursery of its namespaces (started
    first if there is none), which forks the subjects that checker asks it for (``nursery``)."""
    from mountlab.sandbox import nursery

    preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reap themselves
    sock = socket.socket(fileno=control)
    while True:
        data, fds, _, _ = socket.recv_fds(sock, 4096, 5)
        if not data:  # the grading process has gone (or stops us)
            nursery.stop_all()
            os._exit(0)
        if len(fds) != 5 or data != _LINK:
            for fd in fds:
                os.close(fd)
            continue
        try:
            nursery.link(fds)
        except OSError:
            pass  # the checker's first request fails on its end of the link: it says so
        finally:
            for fd in fds:
                os.close(fd)
