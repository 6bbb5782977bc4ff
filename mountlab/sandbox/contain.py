"""The recipe that separates a graded check into a checker and a subject, in the order it runs.

The checker (a fork of the grading process: it holds the check's code and decides the verdict):
  1. dies with the grader; keeps a handle on the host's /proc
  2. user namespace: root inside is an unprivileged host uid (userns)
  3. not dumpable: no process of that uid may ptrace it or read its memory (limits)
  4. mount namespace: / private, the folders to keep opened (mnt)
  5. becomes that unprivileged uid
  6. / read-only; temporary folders, the kit's tree and MOUNTLAB_HIDE covered; the kept folders
     bound back, the scratch folders' parent writable (mnt)
  Steps 2-6 are the same for every check of a run: they are taken once, by a first process
  (``checker_namespaces``) whose two namespaces the grading process keeps; each checker joins
  them (``join_checker``), as that unprivileged uid.
The subject (started by the checker, where learner code runs):
  7. first to go when memory runs out (limits); the subjects' user namespace, nested below the
     checkers' (root inside is the same host uid, with no capability over the checkers'
     namespaces), made once per run by that first process too (a user namespace costs the
     kernel milliseconds to make and to free), and with it a network namespace with no device
     but its loopback, the run's subjects' in turn (so is a network namespace); these are
     joined once per run by the run's nursery (nursery), which forks each subject into a pid
     namespace of its own; mount, IPC and UTS namespaces of the subject's own, made from inside
     it, so the checkers' mounts are locked in them; fresh temporary folders of its own (mnt)
  8. the checker enters its mount namespace, and its pid namespace for the processes the check
     starts (holders of a busy mount, which join its user namespace: learner code may look at
     them as it would at any process of its container)
  9. pid 1 of its pid namespace: everything it starts dies with it; its own /proc
 10. limits: processes, files, memory, file size, CPU time; no_new_privs; dies with its parent
     (the nursery), which kills it when the checker goes; only the channel and stdio kept,
     output into a capped buffer the checker reads (limits)
 11. the subject's program (subject), forked from the zygote by way of the nursery: an
     interpreter started afresh once per grading run (-I -S -B), so nothing of the grader's
     memory or environment
"""

from __future__ import annotations

import array
import json
import os
import signal
import socket
import struct
import sys
from dataclasses import dataclass
from typing import NoReturn

from mountlab import registry, syscalls
from mountlab.sandbox import limits, mnt, userns, zygote

# Each subject's own (its pid namespace is made by the nursery that forks it; its network
# namespace is the run's: ``subjects_network``).
NAMESPACES = syscalls.CLONE_NEWNS | syscalls.CLONE_NEWIPC | syscalls.CLONE_NEWUTS
ENV = "MOUNTLAB_HIDE"  # more folders a submission must not see, separated by ':'


@dataclass
class Subject:
    pid: int  # pid 1 of its pid namespace, as the checker's pid namespace numbers it
    pidfd: int  # to kill it: never another process, even once it is gone
    channel: int
    output: int  # a memfd holding what the learner's code printed
    mnt_ns: int  # descriptors of its namespaces
    pid_ns: int
    user_ns: int
    life: int  # while this end is open, the nursery lets it live

    def kill(self) -> None:
        """Kill it: its whole pid namespace goes with it, and its parent (the run's nursery)
        reaps it. Not waited for: the verdict is already known, and nothing left of it can reach
        the next check (namespaces of its own, scratch of its own)."""
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except OSError:
            pass  # already gone

    def close(self) -> None:
        """Let go of every descriptor of it (a checker that goes on to the next check)."""
        for fd in (self.pidfd, self.channel, self.output, self.mnt_ns, self.pid_ns,
                   self.user_ns, self.life):
            try:
                os.close(fd)
            except OSError:
                pass


def python() -> str:
    """The interpreter the subject runs (``zygote.interpreter``)."""
    return zygote.interpreter()


def kept_folders(impl_folder: str | None) -> list[str]:
    kit = registry.kit_root()
    # The interpreter's own installation too (its standard library), wherever it lives: under
    # a home folder that is hidden (pyenv), it must come back.
    keep = [os.path.join(kit, "mountlab"), os.path.join(kit, "steps"), sys.prefix,
            sys.base_prefix, os.path.dirname(python())]
    if impl_folder:
        keep.append(impl_folder)
    return [os.path.realpath(k) for k in keep]


def closed_parents(paths: list[str]) -> list[str]:
    """For each path, the highest folder above it that other users may not pass through (root's
    home, mode 0700, where root clones the kit on a fresh machine): covered like the hidden
    folders, so that the subject's uid can reach what is brought back inside."""
    closed = []
    for path in paths:
        current = "/"
        for part in path.strip("/").split("/")[:-1]:
            current = os.path.join(current, part)
            try:
                if not os.stat(current).st_mode & 0o001:
                    closed.append(current)
                    break
            except OSError:
                break
    return closed


def hidden_folders() -> list[str]:
    """What the checker and the subject must not see. Asked before the user namespace is made,
    where our uid is still the host's."""
    hide = [registry.kit_root()] + [h for h in os.environ.get(ENV, "").split(":") if h]
    if os.geteuid() != 0:  # the subject has our uid: our own files are not its business
        hide.append(home())
    return [os.path.realpath(h) for h in hide]


def home() -> str:
    """Our home folder: the password database's (HOME may name a scratch folder), else HOME."""
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:  # a uid without a name
        return os.path.expanduser("~")


@dataclass
class CheckerNamespaces:
    """Descriptors of the user and mount namespaces of steps 2-6, and of the subjects' user and
    network namespaces (step 7), held by the grading process."""

    user: int
    mnt: int
    subjects: int
    net: int
    owner: int  # the pid that made them: a fork of the grader does not make them again

    def close(self) -> None:
        for fd in (self.user, self.mnt, self.subjects, self.net):
            os.close(fd)


_made: dict[tuple, CheckerNamespaces] = {}


def checker_namespaces(scratch: list[str], impl_folder: str | None) -> CheckerNamespaces:
    """Steps 2-6 for the checks of this run (in the grading process): made once per set of
    scratch parents and graded folder, by a forked process that takes them and goes."""
    parents = sorted({os.path.dirname(s) for s in scratch})
    key = (tuple(parents), impl_folder, os.environ.get(ENV, ""), os.geteuid(),
           registry.kit_root())
    made = _made.get(key)
    if made is not None and made.owner == os.getpid():
        return made
    if len(_made) >= 4:  # a test suite's many runs: keep the last few
        _made.pop(next(iter(_made))).close()
    unshared_r, unshared_w = os.pipe()
    maps_r, maps_w = os.pipe()
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for fd in (unshared_r, maps_w, ours.fileno()):
                os.close(fd)
            proc_fd = enter_checker(maps_r, unshared_w, parents, impl_folder)
            # Its own namespaces, opened by itself: not dumpable, nobody else may open them.
            own = [os.open(f"/proc/self/ns/{n}", os.O_RDONLY) for n in ("user", "mnt")]
            own.append(subjects_user_namespace(proc_fd))
            own.append(subjects_network())
            socket.send_fds(theirs, [b"d"], own)
            code = 0
        except BaseException as exc:  # noqa: B036 - a forked child never returns
            tell_failure(theirs.fileno(), exc)
        finally:
            os._exit(code)
    for fd in (unshared_w, maps_r):
        os.close(fd)
    theirs.close()
    try:
        if os.geteuid() == 0:
            map_checker(pid, unshared_r, maps_w)
        said, fds, _, _ = socket.recv_fds(ours, 512, 4)
        if said != b"d" or len(fds) != 4:
            for fd in fds:
                os.close(fd)
            raise OSError("the checks' namespaces could not be made: "
                          + (said.decode(errors="replace") or "no answer"))
        for fd in fds:
            os.set_inheritable(fd, False)
        user, mnt, subjects, net = fds
    finally:
        for fd in (unshared_r, maps_w):
            os.close(fd)
        ours.close()
        os.waitpid(pid, 0)
    if made is not None:
        made.close()
    _made[key] = made = CheckerNamespaces(user, mnt, subjects, net, os.getpid())
    return made


def join_checker(namespaces: CheckerNamespaces) -> int:
    """Steps 1-6 in a checker: join the namespaces made by ``checker_namespaces`` as their
    unprivileged root; returns a descriptor of the host's /proc."""
    limits.die_with_parent()
    proc_fd = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    if os.geteuid() == 0:
        os.setgroups([])  # no supplementary group of the host's root comes along
    syscalls.setns(namespaces.user, syscalls.CLONE_NEWUSER)
    syscalls.setns(namespaces.mnt, syscalls.CLONE_NEWNS)
    userns.become_root()
    limits.dumpable(False)
    return proc_fd


# -- the checker ----------------------------------------------------------------------------------

def enter_checker(maps_ready: int, unshared: int, parents: list[str],
                  impl_folder: str | None) -> int:
    """Steps 1-6, in the process that makes the checkers' namespaces; returns a descriptor of
    the host's /proc. ``parents``: the scratch folders' parents, bound back writable.

    As root, the grader writes our maps: we write a byte on ``unshared`` and wait for one on
    ``maps_ready``."""
    limits.die_with_parent()
    proc_fd = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    # Our ids before the unshare: inside the new user namespace, unmapped yet, they read 65534
    # (and, mapped, 0).
    uid, gid = userns.subject_uid(), os.getegid()
    hide = hidden_folders()
    if os.geteuid() == 0:
        userns.unshare_user()
        os.write(unshared, b"u")
        if os.read(maps_ready, 1) != b"m":
            raise OSError("the grader could not map the checker's user namespace")
    else:
        limits.dumpable(True)  # writing our own maps needs our /proc files to be ours
        userns.unshare_user()
        userns.write_maps("self", uid, gid, proc_fd=proc_fd)
    limits.dumpable(False)
    mnt.private_root()
    # The scratch folders' parents are bound back (writable only where the subject uid owns
    # something), so that a check's folder is no mount point of its own.
    keep = kept_folders(impl_folder)
    kept = mnt.open_kept(keep, parents)
    userns.become_root()
    mnt.read_only_root()
    covered = mnt.cover(hide + closed_parents(keep))
    mnt.bring_back(kept, covered)
    mnt.seal(covered)
    return proc_fd


def subjects_user_namespace(proc_fd: int) -> int:
    """Step 7's user namespace, below the checkers' (by the process that made theirs, as their
    root, which it leaves for good): a descriptor of it."""
    limits.dumpable(True)  # our own maps: our /proc files must be ours
    userns.nest(0, proc_fd)
    limits.dumpable(False)
    return os.open("/proc/self/ns/user", os.O_RDONLY)


def subjects_network() -> int:
    """Step 7's network namespace (in the subjects' user namespace, as its root): a descriptor
    of it. No device but a loopback that is down; nothing a subject does there outlives it."""
    syscalls.unshare(syscalls.CLONE_NEWNET)
    return os.open("/proc/self/ns/net", os.O_RDONLY)


def map_checker(pid: int, unshared: int, maps_ready: int) -> None:
    """The grader's half of step 2 as root: map the checker's root to the subject uid."""
    if os.read(unshared, 1) != b"u":
        return  # the checker failed before: it reports why itself
    uid = userns.subject_uid()
    try:
        userns.write_maps(pid, uid, uid)
    finally:
        os.write(maps_ready, b"m")


# -- the subject ----------------------------------------------------------------------------------

def start_subject(proc_fd: int, impl_env: str, cpu_seconds: int,
                  namespaces: CheckerNamespaces) -> Subject:
    """Steps 7-11, by the run's nursery (forked from the zygote); the checker has entered the
    subject's mount namespace when this returns."""
    from mountlab.sandbox import nursery  # which imports this module
    ours, theirs = socket.socketpair()
    # The kernel tells us who sends the first message, as our pid namespace numbers it.
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    output = os.memfd_create("mountlab-subject-output", os.MFD_CLOEXEC)
    life_r, life_w = os.pipe()  # the subject is killed when the checker goes (EOF)
    fds: list[int] = []
    try:
        request = json.dumps({"impl": impl_env, "cpu": cpu_seconds}).encode()
        nursery.ask(proc_fd, namespaces, request, [theirs.fileno(), output, life_r])
        os.close(life_r)
        life_r = -1
        theirs.close()
        data, fds, pid = _first_message(ours)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 0)  # learner code's turn now
        if len(fds) != 3 or data != _STARTED or pid <= 0:
            raise OSError("the subject could not be started: "
                          + (data.decode(errors="replace") or "no answer"))
        pidfd = os.pidfd_open(pid)  # it waits for its first request: still this process
        syscalls.setns(fds[0], syscalls.CLONE_NEWNS)
        syscalls.setns(fds[1], syscalls.CLONE_NEWPID)  # for our children only: holders of a mount
    except BaseException:
        for fd in (life_r, *fds, output, life_w):
            if fd >= 0:
                os.close(fd)
        theirs.close()
        ours.close()
        raise
    return Subject(pid, pidfd, ours.detach(), output, *fds, life=life_w)


_STARTED = b"started"
_UCRED = struct.Struct("iII")  # struct ucred: pid, uid, gid
_INT = array.array("i")


def tell_failure(fd: int, exc: BaseException) -> None:
    """Say on ``fd`` why a forked step failed, to the process that waits for its first message
    (which names the exception in an error of its own). Nobody left to tell is not an error."""
    try:
        os.write(fd, f"{type(exc).__name__}: {exc}".encode()[:500])
    except OSError:
        pass


def _first_message(sock: socket.socket) -> tuple[bytes, list[int], int]:
    """The subject's first message: its text, the (three) descriptors it carries, and the
    sender's pid (as the kernel numbers it in our pid namespace; 0 if none came). A stream
    socket's read ends with the message that carries descriptors: the subject's frames that
    follow are left unread."""
    data, ancillary, _, _ = sock.recvmsg(
        512, socket.CMSG_SPACE(3 * _INT.itemsize) + socket.CMSG_SPACE(_UCRED.size))
    fds: list[int] = []
    pid = 0
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            received = array.array("i")
            received.frombytes(payload[:len(payload) - len(payload) % received.itemsize])
            fds += received
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = _UCRED.unpack(payload[:_UCRED.size])[0]
    for fd in fds:
        os.set_inheritable(fd, False)
    return data, fds, pid


def start_in_nursery(request: dict, channel: int, output: int) -> NoReturn:
    """Steps 7-9 in pid 1 of a fresh pid namespace, forked by the nursery (already in the
    checker's namespaces and the subjects' user and network namespaces: ``nursery``): mount,
    IPC and UTS namespaces of its own, made from the subjects' user namespace, so the checkers'
    mounts are locked in them (no unmounting a cover, no making the root writable again); its
    own /proc; then the subject. Never returns."""
    try:
        limits.die_with_parent()  # the nursery: pid 1 of the run's subjects
        syscalls.unshare(NAMESPACES)
        # The checkers' namespaces are shared by every check of a run.
        mnt.fresh_temporary(request["covers"])
        syscalls.mount("proc", "/proc", "proc",
                       syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC)
        namespaces = [os.open(f"/proc/self/ns/{n}", os.O_RDONLY | os.O_CLOEXEC)
                      for n in ("mnt", "pid", "user")]
        # The checker's "before" of the mount table includes /proc.
        sock = socket.socket(fileno=channel)
        socket.send_fds(sock, [_STARTED], namespaces)
        sock.detach()  # the subject's channel: still open
        for fd in namespaces:
            os.close(fd)
    except BaseException as exc:  # noqa: B036 - a forked child never returns into the nursery
        tell_failure(channel, exc)
        os._exit(125)
    _subject(channel, output, request)


def _subject(channel: int, output: int, request: dict) -> NoReturn:
    """Steps 10-11 in pid 1 of the subject's namespaces: never returns."""
    try:
        os.setsid()  # a session and process group of its own: killpg reaches nothing else
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        limits.apply(int(request["cpu"]))
        limits.no_new_privs()
        limits.close_fds([channel])
        os.chdir("/")
        os.environ["MOUNTLAB_IMPL"] = str(request["impl"])  # the rest: zygote.ENVIRONMENT
        from mountlab.sandbox import subject

        subject.serve(channel)
    except BaseException as exc:  # noqa: B036
        os.write(2, f"mountlab: the subject could not start: {exc}\n".encode())
    os._exit(0)
