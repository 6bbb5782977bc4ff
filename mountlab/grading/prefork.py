"""One jailed pytest run per submission, forked from a process that has imported pytest once.

Starting an interpreter and importing pytest and the kit's plugin costs each submission about a
sixth of a CPU second of the three its grading takes; ``grade-class`` grades many. So it starts
one *prefork server* (``start``): a fresh interpreter (the grading run's environment) that
imports pytest and the plugin, then waits. For each submission (``run``) it forks; the child
enters the jail (``jail.run``) and calls ``pytest.main`` where a new interpreter would have
started. Learner code never runs in the server nor in its children: as before, only in the
subjects, forked from each run's zygote, which the server's template (``sandbox.template``), an
interpreter started afresh with ``execve``, forks into the run's jail.

A request is one message on the server's socket: JSON (pytest's arguments, environment, working
directory, the jail's folders) with three descriptors (the socket for the answer, stdout,
stderr). The answer: the child's pid and a pidfd (to kill it), then its exit status when it ends.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys

# What every grading run imports: pytest and its built-in plugins, the kit's plugins and what the
# checks import (not the checks themselves: pytest imports those, rewriting their asserts).
_PRELOAD = ("pytest", "_pytest.junitxml", "_pytest.tmpdir", "_pytest.terminal", "_pytest.python",
            "_pytest.runner", "_pytest.skipping", "_pytest.warnings", "_pytest.unittest",
            "_pytest.faulthandler", "_pytest.helpconfig", "_pytest.pastebin",
            "_pytest.setuponly", "_pytest.setupplan", "_pytest.threadexception",
            "_pytest.unraisableexception", "_pytest.tracemalloc", "mountlab.grading.plugin",
            "mountlab.grading.livelog", "mountlab.backends.plugin", "mountlab.grading.checks",
            "mountlab.grading.doubles", "mountlab.sandbox.check", "mountlab.sandbox.resident",
            "xml.etree.ElementTree", "pdb", "unittest", "tomllib")


class Server:
    """The grading side: ``run`` may be called from several threads at once."""

    def __init__(self, env: dict[str, str], cwd: str) -> None:
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mountlab.grading.prefork", str(theirs.fileno())],
            env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            pass_fds=[theirs.fileno()])
        theirs.close()
        self.runs = 0  # started so far

    def run(self, argv: list[str], *, env: dict[str, str], cwd: str, writable: list[str],
            tmpfs: list[str], stdout: int, stderr: int,
            timeout: float) -> tuple[int, bool] | None:
        """pytest with ``argv``, jailed; (its exit status, whether it was killed on ``timeout``),
        or None when the server did not start it (the caller then starts it as a program);
        ``OSError`` when the server went away meanwhile."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with ours:
            request = {"argv": argv, "env": env, "cwd": cwd, "writable": writable,
                       "tmpfs": tmpfs}
            try:
                socket.send_fds(self.control, [json.dumps(request).encode()],
                                [theirs.fileno(), stdout, stderr])
            except OSError:  # the server is gone
                return None
            finally:
                theirs.close()
            said, fds, _, _ = socket.recv_fds(ours, 256, 1)
            if not said or len(fds) != 1:
                return None
            self.runs += 1
            pidfd, timed_out = fds[0], False
            try:
                if not select.select([ours], [], [], timeout)[0]:
                    timed_out = True
                    # The jail's outer process: PID 1 dies with it, and the whole jail with PID 1.
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                status = ours.recv(64)
            finally:
                os.close(pidfd)
        if not status:
            raise OSError("the prefork server went away")
        return int(status), timed_out

    def stop(self) -> None:
        self.control.close()  # the server ends when it reads the end of its socket
        self.proc.wait()


def start(env: dict[str, str], cwd: str) -> Server | None:
    """A prefork server with the grading runs' environment, or None where the jail cannot be
    made (not root): the caller then starts each run as a program."""
    if os.geteuid() != 0:
        return None
    return Server(env, cwd)


# -- the server -----------------------------------------------------------------------------------

def serve(control: int) -> None:
    import gc
    import importlib

    from mountlab import messages, registry
    from mountlab.sandbox import template

    template.start()  # each run's zygote, forked from it rather than started afresh
    for name in _PRELOAD:  # in memory once, before any fork
        importlib.import_module(name)
    registry.steps()  # steps.toml and the kit's texts, parsed once
    for path in messages.kit_catalogues():
        messages.catalogue(path).texts  # noqa: B018 - a cached property: parsed here, once
    gc.freeze()  # a child's collector never walks (and so copies) these pages
    sock = socket.socket(fileno=control)
    waiting: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, where to answer)
    while True:
        ready = select.select([sock, *waiting], [], [])[0]
        for pidfd in [fd for fd in ready if fd in waiting]:
            pid, answer = waiting.pop(pidfd)
            code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            _say(answer, str(128 - code if code < 0 else code).encode())
            answer.close()
            os.close(pidfd)
        if sock in ready:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 16, 3)
            if not data:
                os._exit(0)  # the grader has gone: its runs' jails die with their outer process
            if len(fds) != 3:
                for fd in fds:
                    os.close(fd)
                continue
            answer = socket.socket(fileno=fds[0])
            pid = os.fork()
            if pid == 0:
                sock.close()
                _child(json.loads(data), fds[1], fds[2], answer)
            os.close(fds[1])
            os.close(fds[2])
            pidfd = os.pidfd_open(pid)
            socket.send_fds(answer, [str(pid).encode()], [pidfd])
            waiting[pidfd] = (pid, answer)


def _say(answer: socket.socket, data: bytes) -> None:
    try:
        answer.send(data)
    except OSError:
        pass  # the grader stopped waiting


def _child(request: dict, stdout: int, stderr: int, answer: socket.socket) -> None:
    """What a new interpreter running ``python -m mountlab.grading.jail ... -- pytest ...`` would
    do, in this fork: never returns."""
    try:
        answer.close()
        os.setsid()  # a session of its own, as the program it replaces had
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        from mountlab.sandbox import template

        kept = template._socket.fileno()  # the template: this run's zygote comes from it
        os.closerange(3, kept)
        os.closerange(kept + 1, 1 << 16)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        import pytest

        from mountlab.grading import jail

        code = jail.run(request["writable"], lambda: pytest.main(request["argv"]),
                        tmpfs=request["tmpfs"])
    except BaseException:  # noqa: B036 - a forked child never returns into the server
        import traceback

        traceback.print_exc()
        code = 125
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
