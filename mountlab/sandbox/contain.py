"""The recipe that separates a graded check into a checker and a subject, in the order it runs.

The checker (a fork of the grading process: it holds the check's code and decides the verdict):
  1. dies with the grader; keeps a handle on the host's /proc
  2. user namespace: root inside is an unprivileged host uid (userns)
  3. not dumpable: no process of that uid may ptrace it or read its memory (limits)
  4. mount namespace: / private, the folders to keep opened (mnt)
  5. becomes that unprivileged uid
  6. / read-only; temporary folders, the kit's tree and MOUNTLAB_HIDE covered; the kept folders
     bound back, the scratch folder writable (mnt)
The subject (started by the checker, where learner code runs):
  7. nested user namespace, with mount, pid, network, IPC and UTS namespaces of its own; the
     checker's mounts are locked in it (userns)
  8. the checker enters its mount namespace, and its pid namespace for the processes the check
     starts (holders of a busy mount, which join its user namespace: learner code may look at
     them as it would at any process of its container)
  9. pid 1 of its pid namespace: everything it starts dies with it; its own /proc
 10. limits: processes, files, memory, file size, CPU time; no_new_privs; dies with its parent;
     only the channel and stdio kept, output into a capped buffer the checker reads (limits)
 11. a fresh interpreter (-I -S -B): nothing of the grader's memory or environment (subject)
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass

from mountlab import registry, syscalls
from mountlab.sandbox import limits, mnt, userns

NAMESPACES = (syscalls.CLONE_NEWNS | syscalls.CLONE_NEWPID | syscalls.CLONE_NEWNET
              | syscalls.CLONE_NEWIPC | syscalls.CLONE_NEWUTS)
_BOOT = ("import sys; sys.path.insert(0, sys.argv[2]); "
         "from mountlab.sandbox.subject import main; main()")
ENV = "MOUNTLAB_HIDE"  # more folders a submission must not see, separated by ':'


@dataclass
class Subject:
    pid: int  # pid 1 of its pid namespace, as the host numbers it
    channel: int
    output: int  # a memfd holding what the learner's code printed
    mnt_ns: int  # descriptors of its namespaces
    pid_ns: int
    user_ns: int


def python() -> str:
    """The interpreter the subject runs: the real binary behind the kit's virtualenv."""
    return os.path.realpath(sys.executable)


def kept_folders(impl_folder: str | None) -> list[str]:
    kit = registry.kit_root()
    keep = [os.path.join(kit, "mountlab"), os.path.join(kit, "steps"), sys.prefix,
            os.path.dirname(python())]
    if impl_folder:
        keep.append(impl_folder)
    return [os.path.realpath(k) for k in keep]


def hidden_folders() -> list[str]:
    hide = [registry.kit_root()] + [h for h in os.environ.get(ENV, "").split(":") if h]
    if os.geteuid() != 0:  # the subject has our uid: our own files are not its business
        hide.append(os.path.expanduser("~"))
    return [os.path.realpath(h) for h in hide]


# -- the checker ----------------------------------------------------------------------------------

def enter_checker(maps_ready: int, unshared: int, scratch: list[str],
                  impl_folder: str | None) -> int:
    """Steps 1-6, in the forked checker; returns a descriptor of the host's /proc.

    As root, the grader writes our maps: we write a byte on ``unshared`` and wait for one on
    ``maps_ready``."""
    limits.die_with_parent()
    proc_fd = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    uid = userns.subject_uid()
    if os.geteuid() == 0:
        userns.unshare_user()
        os.write(unshared, b"u")
        if os.read(maps_ready, 1) != b"m":
            raise OSError("the grader could not map the checker's user namespace")
    else:
        limits.dumpable(True)  # writing our own maps needs our /proc files to be ours
        userns.unshare_user()
        userns.write_maps("self", uid, os.getegid(), proc_fd=proc_fd)
    limits.dumpable(False)
    mnt.private_root()
    # The scratch folders' parents are bound back (writable only where the subject uid owns
    # something), so that a check's folder is no mount point of its own.
    kept = mnt.open_kept(kept_folders(impl_folder), sorted({os.path.dirname(s) for s in scratch}))
    userns.become_root()
    mnt.read_only_root()
    mnt.bring_back(kept, mnt.cover(hidden_folders()))
    return proc_fd


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

def start_subject(proc_fd: int, impl_env: str, cpu_seconds: int) -> Subject:
    """Steps 7-11; the checker has entered the subject's mount namespace when this returns."""
    ours, theirs = socket.socketpair()
    output = os.memfd_create("mountlab-subject-output", os.MFD_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        ours.close()
        _intermediate(proc_fd, theirs, output, impl_env, cpu_seconds)
    theirs.close()
    data, fds, _, _ = socket.recv_fds(ours, 32, 3)
    if len(fds) != 3:
        raise OSError(f"the subject could not be started (pid {pid})")
    pid = int(data)  # pid 1 of the subject's namespace, as the host numbers it
    syscalls.setns(fds[0], syscalls.CLONE_NEWNS)
    syscalls.setns(fds[1], syscalls.CLONE_NEWPID)  # for our children only: holders of a mount
    return Subject(pid, ours.detach(), output, *fds)


def _intermediate(proc_fd: int, sock: socket.socket, output: int, impl_env: str,
                  cpu_seconds: int) -> None:
    """Step 7, then pid 1 of the new pid namespace; waits for it and exits with it."""
    code = 125
    try:
        limits.die_with_parent()
        limits.dumpable(True)  # our own maps, as in the checker
        userns.nest(NAMESPACES, proc_fd)
        limits.dumpable(False)
        mounted_r, mounted_w = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(mounted_r)
            _subject(sock.fileno(), output, impl_env, cpu_seconds, mounted_w)
        os.close(mounted_w)
        if os.read(mounted_r, 1) != b"p":
            raise OSError("the subject could not mount its /proc")
        # The new pid namespace can be named once its first process exists.
        limits.dumpable(True)
        namespaces = [os.open(f"self/ns/{n}", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc_fd)
                      for n in ("mnt", "pid_for_children", "user")]
        limits.dumpable(False)
        socket.send_fds(sock, [str(child).encode()], namespaces)
        sock.close()
        code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
    except BaseException:  # noqa: B036 - a forked child never returns into the grader
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code if code >= 0 else 128 - code)


def _subject(channel: int, output: int, impl_env: str, cpu_seconds: int, mounted: int) -> None:
    """Steps 9-11 in pid 1 of the subject's namespaces, then execve: never returns."""
    try:
        syscalls.mount("proc", "/proc", "proc",
                       syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC)
        os.write(mounted, b"p")  # the checker's "before" of the mount table includes it
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        limits.apply(cpu_seconds)
        limits.no_new_privs()
        limits.die_with_parent()
        limits.close_fds([channel])
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/",
               "MOUNTLAB_IMPL": impl_env}
        os.execve(python(), [python(), "-I", "-S", "-B", "-c", _BOOT, str(channel),
                             registry.kit_root()], env)
    except BaseException as exc:  # noqa: B036
        os.write(2, f"mountlab: the subject could not start: {exc}\n".encode())
    os._exit(127)
