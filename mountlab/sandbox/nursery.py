"""The nursery: where each check's subject is born, one fork per check.

A subject must be pid 1 of a pid namespace of its own, made from the subjects' user namespace (so
that it may mount its own /proc). ``unshare(CLONE_NEWPID)`` only places the caller's *next*
child in the new namespace, and may be undone (``setns`` back) only by a process with privileges
over its own pid namespace. So the zygote starts, once per set of checker namespaces (once per
grading run), a nursery: a process that has joined the checker's user and mount namespaces, the
subjects' user and network namespaces, and is pid 1 of a pid namespace owned by the subjects'
user namespace. For each check it unshares a pid namespace, forks the subject there (the
recipe's steps 7-11, ``contain.start_in_nursery``), and steps back into its own for the next.
Before, a child of the zygote took those steps for each check and watched its subject: two
forks per check, where one is enough.

A checker asks its nursery directly: once, by way of the zygote, it hands the nursery one end of
a socket of its own (its *link*, ``ask``); each subject is then one message on
that link, carrying the subject's channel, output and life pipe. (When each request went by way
of the zygote, a process more was woken and a message more copied for every check.)

The nursery kills a subject when its checker lets go of it (the ``life`` pipe reads end of
file), reaps it when it ends, and ends (with every subject, its pid namespace's pid 1 gone) when
the zygote closes its socket or dies. Learner code never runs here: only in the subjects, which
close every descriptor of the nursery's before they start.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
from dataclasses import dataclass
from typing import NoReturn

from mountlab import syscalls
from mountlab.sandbox import contain, limits, mnt, userns, zygote

_MAX = 4  # nurseries kept by a zygote (a test suite's many runs): as ``contain._made``
_nurseries: dict[tuple, socket.socket] = {}  # in the zygote, by the namespaces' identities


def link(fds: list[int]) -> None:
    """In the zygote: hand ``fds[4]`` (a checker's end of a link) to the nursery of the checker's
    namespaces (``fds[:4]``: checker user, checker mount, subjects' user, subjects' network);
    start that nursery first when there is none, or another when it has gone."""
    key = _identity(fds[:4])
    for attempt in range(2):
        sock = _nurseries.get(key)
        if sock is None or attempt:
            if sock is not None:
                sock.close()
            while len(_nurseries) >= _MAX:
                _nurseries.pop(next(iter(_nurseries))).close()
            sock = _nurseries[key] = _start(fds[:4])
        try:
            socket.send_fds(sock, [b"link"], fds[4:])
            return
        except OSError:  # that nursery has gone: start another
            continue


def _identity(namespaces: list[int]) -> tuple[tuple[int, int], ...]:
    """The namespaces open at these descriptors, as the kernel tells them apart."""
    return tuple((s.st_dev, s.st_ino) for s in map(os.fstat, namespaces))


_links: dict[tuple, socket.socket] = {}  # in a checker: its link to each nursery it asks


def ask(proc_fd: int, namespaces: contain.CheckerNamespaces, request: bytes,
        fds: list[int]) -> None:
    """In a checker: send the nursery of ``namespaces`` a request for a subject, on this
    checker's link to it; make that link first (by way of the zygote, ``zygote.link``), or again
    if the nursery has gone."""
    key = (os.getpid(), *_identity(
        [namespaces.user, namespaces.mnt, namespaces.subjects, namespaces.net]))
    for attempt in range(2):
        link = None if attempt else _links.get(key)
        if link is None:
            gone = _links.pop(key, None)
            if gone is not None:
                gone.close()
            link = _links[key] = _link(proc_fd, namespaces)
        try:
            socket.send_fds(link, [request], fds)
            return
        except OSError:  # that nursery has gone (the zygote starts another for the next link)
            if attempt:
                raise


def _link(proc_fd: int, namespaces: contain.CheckerNamespaces) -> socket.socket:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    own: list[int] = []
    try:
        for name in ("user", "mnt"):
            own.append(os.open(f"self/ns/{name}", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc_fd))
        zygote.link([*own, namespaces.subjects, namespaces.net, theirs.fileno()])
    except BaseException:
        ours.close()
        raise
    finally:
        for fd in own:
            os.close(fd)
        theirs.close()
    return ours


def stop_all() -> None:
    """In the zygote, before it ends: end every nursery, and wait until each is gone with all its
    subjects (a grading run ends with nothing of it left running)."""
    for sock in _nurseries.values():
        sock.close()
    _nurseries.clear()
    while True:
        try:  # SIGCHLD ignored: waits until every child has ended, then ECHILD
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _start(namespaces: list[int]) -> socket.socket:
    """A nursery in ``namespaces``; our end of its socket. Its go-between (a child of ours) joins
    the namespaces, makes the nursery's pid namespace and forks the nursery into it, then waits
    for it (the nursery dies with it, it dies with us)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.fork() == 0:
        code = 0
        try:
            limits.close_fds([theirs.fileno(), *namespaces])
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _join(*namespaces)
            limits.die_with_parent()  # after _join: a change of credentials clears it
            syscalls.unshare(syscalls.CLONE_NEWPID)
            pid = os.fork()
            if pid == 0:
                limits.die_with_parent()
                _serve(theirs)
            theirs.close()
            os.waitpid(pid, 0)
        except BaseException:  # noqa: B036 - a forked child never returns into the zygote
            code = 125
        finally:
            os._exit(code)
    theirs.close()
    return ours


def _join(user: int, mount: int, subjects: int, net: int) -> None:
    """The checker's user and mount namespaces as their unprivileged root, then the subjects'
    user namespace (nested below: no capability over the checkers') and network namespace."""
    limits.killed_first()  # inherited by every subject: while our /proc files are our own
    syscalls.setns(user, syscalls.CLONE_NEWUSER)
    userns.become_root()
    syscalls.setns(mount, syscalls.CLONE_NEWNS)
    syscalls.setns(subjects, syscalls.CLONE_NEWUSER)
    userns.become_root()
    syscalls.setns(net, syscalls.CLONE_NEWNET)
    limits.dumpable(False)  # inherited: no process of the subject uid may ptrace us or them
    for fd in (user, mount, subjects, net):
        os.close(fd)


@dataclass
class _Child:
    pid: int
    pidfd: int  # -1 once reaped


def _serve(control: socket.socket) -> NoReturn:
    """The nursery's loop (pid 1 of its pid namespace): a subject per request; each killed when
    its checker's ``life`` pipe closes, reaped when it ends."""
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    # Read once: the checkers' mount namespace does not change during a run (each check mounts
    # in its subject's). Parsing it per check made the nursery write pages it shares with the
    # subject forked last, each a fault (in a guest, a tenth of a millisecond each).
    covers = mnt.temporary_covers()
    by_life: dict[int, _Child] = {}  # until its checker lets go
    by_pidfd: dict[int, _Child] = {}  # until it is reaped
    links: dict[int, socket.socket] = {}  # to each checker of the run, by descriptor
    poll = select.poll()
    poll.register(control, select.POLLIN)
    while True:
        for fd, _ in poll.poll():
            if fd in by_pidfd:  # a subject ended
                child = by_pidfd.pop(fd)
                poll.unregister(fd)
                os.waitpid(child.pid, 0)
                os.close(fd)
                child.pidfd = -1
            elif fd in by_life:  # its checker let go (it never writes: readable means closed)
                child = by_life.pop(fd)
                poll.unregister(fd)
                if child.pidfd >= 0:
                    try:
                        signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                os.close(fd)
            elif fd == control.fileno():  # a checker's link, by way of the zygote
                data, fds, _, _ = socket.recv_fds(control, 64, 1)
                if not data:
                    os._exit(0)  # the zygote has gone: every subject goes with us
                for one in fds:
                    links[one] = socket.socket(fileno=one)
                    poll.register(one, select.POLLIN)
            elif fd in links:  # a checker asks for a subject
                data, fds, _, _ = socket.recv_fds(links[fd], 4096, 3)
                if not data:  # that checker has gone
                    poll.unregister(fd)
                    links.pop(fd).close()
                    for one in fds:
                        os.close(one)
                    continue
                if len(fds) != 3:
                    for one in fds:
                        os.close(one)
                    continue
                child = _birth(data, *fds, own, covers)
                if child is not None:
                    by_pidfd[child.pidfd] = by_life[fds[2]] = child
                    poll.register(child.pidfd, select.POLLIN)
                    poll.register(fds[2], select.POLLIN)


def _birth(data: bytes, channel: int, output: int, life: int, own: int,
           covers: list[tuple[str, list[str]]]) -> _Child | None:
    """Fork one subject into a pid namespace of its own; what went wrong, if anything, goes to
    its checker on ``channel`` (the nursery goes on serving the run's other checks)."""
    unshared = False
    try:
        request = json.loads(data)
        request["covers"] = covers
        syscalls.unshare(syscalls.CLONE_NEWPID)
        unshared = True
        pid = os.fork()
        if pid == 0:
            contain.start_in_nursery(request, channel, output)
        return _Child(pid, os.pidfd_open(pid))  # not reaped before we do: no other process
    except Exception as exc:  # noqa: BLE001 - said to the checker, which fails its check
        contain.tell_failure(channel, exc)
        os.close(life)
        return None
    finally:
        if unshared:
            syscalls.setns(own, syscalls.CLONE_NEWPID)  # the next subject's namespace is made here
        os.close(channel)
        os.close(output)
