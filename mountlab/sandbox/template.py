"""A zygote of zygotes, for the prefork server of ``grade-class`` (``mountlab.grading.prefork``).

Each grading run starts a zygote (``zygote.start``): an interpreter started afresh that imports
the sandbox's code, about a tenth of a CPU second every time. A prefork server starts one
*template* the same way, once (``start``). A run's pytest process then asks it for its zygote
(``make``): the template forks; the child enters the run's mount and pid namespaces (the jail's)
and forks there the zygote, which is what ``zygote.start`` would have made: the memory of an
interpreter started afresh (nothing of the grader's: no check, no reference, no environment),
inside the jail, ending when its control socket closes. (Its parent is the template, outside the
jail: a process may enter a pid namespace only for its children.)
"""

from __future__ import annotations

import os
import signal
import socket

_BOOT = ("import sys; sys.path.insert(0, sys.argv[2]); "
         "from mountlab.sandbox.template import serve; serve(int(sys.argv[1]))")
_socket: socket.socket | None = None  # to the template: the prefork server's, and its children's
_PR_SET_CHILD_SUBREAPER = 36


def start() -> None:
    """Start the template (in the prefork server, before it forks any run)."""
    global _socket
    from mountlab.sandbox import zygote

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    zygote.exec_fresh(_BOOT, theirs)  # dies with the prefork server
    theirs.close()
    _socket = ours


def make(control: socket.socket) -> int | None:
    """A zygote serving ``control`` (its end of the control socket), in our mount and pid
    namespaces: its pid, or None without a template (or when it did not answer)."""
    if _socket is None:
        return None
    answer, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    namespaces = [os.open(f"/proc/self/ns/{n}", os.O_RDONLY | os.O_CLOEXEC) for n in ("mnt", "pid")]
    try:
        socket.send_fds(_socket, [b"z"], [control.fileno(), *namespaces, theirs.fileno()])
    except OSError:
        return None
    finally:
        for fd in namespaces:
            os.close(fd)
        theirs.close()
    with answer:
        said = answer.recv(32)
    return int(said) if said.isdigit() else None


def serve(sock_fd: int) -> None:
    """The template's loop: for each request, a zygote in the namespaces it names."""
    from mountlab import syscalls
    from mountlab.sandbox import zygote

    zygote.preload()
    # Each zygote, once its go-between is gone, is ours (a parent outside its pid namespace):
    # it is reaped as soon as it ends, like the go-betweens, and leaves no zombie in the jail.
    syscalls.prctl(_PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    sock = socket.socket(fileno=sock_fd)
    while True:
        data, fds, _, _ = socket.recv_fds(sock, 16, 4)
        if not data:
            os._exit(0)  # the prefork server has gone
        if len(fds) == 4 and os.fork() == 0:
            control, mnt, pid_ns, answer = fds
            try:
                sock.close()
                syscalls.setns(mnt, syscalls.CLONE_NEWNS)
                syscalls.setns(pid_ns, syscalls.CLONE_NEWPID)  # for the next fork
                if os.fork() == 0:  # the zygote, in the run's pid namespace
                    for fd in (mnt, pid_ns):
                        os.close(fd)
                    os.write(answer, str(os.getpid()).encode())
                    os.close(answer)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    zygote.serve(control)
            finally:
                os._exit(0)  # the go-between: the zygote's parent is now the template
        for fd in fds:
            os.close(fd)
