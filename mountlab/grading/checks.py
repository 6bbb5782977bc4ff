"""Small tools the graded checks share: look at the kernel's state, hold a mount busy, snapshot a
tree. They run in the check's checker process, inside the subject's mount namespace."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import shutil
import signal
from collections.abc import Iterator

from mountlab import mountinfo, syscalls
from mountlab.sandbox import observe


def seconds(budget: float) -> float:
    """A check's wall-clock budget on this machine: ``budget`` where the checks run natively,
    longer in a User-Mode Linux guest, where every system call costs more
    (``mountlab.backends.time_scale``). The check's time limit is scaled alike."""
    from mountlab import backends

    return budget * backends.time_scale()


def mount_count(path: str | os.PathLike) -> int:
    """How many mounts are stacked at ``path`` (0: not a mount point)."""
    return len(mountinfo.find(path))


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Two paths show the same inode: what a bind mount does."""
    sa, sb = os.stat(a), os.stat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def write_fails_with_erofs(directory: str | os.PathLike) -> bool:
    """Try to create a file in ``directory``: True when the kernel refuses with EROFS."""
    path = os.path.join(directory, ".mountlab-write-probe")
    try:
        with open(path, "w") as f:
            f.write("x")
    except OSError as exc:
        return exc.errno == errno.EROFS
    os.unlink(path)
    return False


def snapshot(root: str | os.PathLike) -> dict[str, tuple]:
    """Every path under ``root`` with its type, mode and content digest: compare two snapshots to
    prove that nothing was created, removed or changed."""
    found: dict[str, tuple] = {}
    root = os.fspath(root)
    if not os.path.lexists(root):
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest = ""
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            found[os.path.relpath(path, root)] = (st.st_mode, digest)
    return found


def tmpfs(path: str | os.PathLike) -> None:
    """Mount a small tmpfs at ``path`` (a different filesystem, for submounts and "something else
    is mounted here")."""
    os.makedirs(path, exist_ok=True)
    syscalls.mount("tmpfs", path, "tmpfs", 0, "size=1m")


def bind(source: str | os.PathLike, target: str | os.PathLike, *, read_only: bool = False) -> None:
    """A plain bind mount made by the check itself (not by the code under test)."""
    syscalls.mount(source, target, None, syscalls.MS_BIND)
    if read_only:
        syscalls.mount(None, target, None,
                       syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY)


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


class Holder:
    """A process the check started that keeps a mount busy: its working directory is in it, or it
    holds a file of it open (as its standard input). It lives in the subject's pid namespace, so
    the learner's code sees it (``pid`` is its number there) and may name it in
    ``MountBusyError.pids``.

    It runs the host's ``sleep``, opened before the subject existed (the subject may have mounted
    over any path since), so it holds nothing of the checker's memory; it is in the subject's user
    namespace, so the learner's code may read its /proc files, as of any process in a container
    (and may also kill it: the check then fails)."""

    def __init__(self, host_pid: int) -> None:
        self.host_pid = host_pid
        self.pid = observe.namespace_pid(host_pid)
        self.killed_by: str | None = None

    def has_cwd(self) -> bool:
        """It is still running: it has not let go of the volume yet."""
        if self.host_pid not in _holders:
            return False
        try:
            done, status = os.waitpid(self.host_pid, os.WNOHANG)
        except ChildProcessError:
            done, status = self.host_pid, 0
        if done:
            self._ended(status)
            return False
        return True

    def cwd_entries(self) -> list[str]:
        """What it sees in its working directory."""
        fd = observe.proc_open(f"{self.host_pid}/cwd", os.O_RDONLY | os.O_DIRECTORY)
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)

    def _ended(self, status: int) -> None:
        _holders.discard(self.host_pid)
        if os.WIFSIGNALED(status):
            self.killed_by = signal.Signals(os.WTERMSIG(status)).name

    def stop(self) -> None:
        """End it; note who ended it if it was not us (learner code may not kill it)."""
        if not self.has_cwd():
            return
        os.kill(self.host_pid, signal.SIGKILL)
        os.waitpid(self.host_pid, 0)
        _holders.discard(self.host_pid)


_holders: set[int] = set()
_SLEEP = shutil.which("sleep") or "/bin/sleep"
_sleep_fd: int | None = None
_user_ns: int | None = None  # the subject's user namespace, where holders live


def hold_in(user_ns: int | None) -> None:
    global _user_ns
    _user_ns = user_ns


def holder_pids() -> list[int]:
    """The host pids of the holders still running."""
    return sorted(_holders)


def keep_programs() -> None:
    """Open the programs a check runs while the host's files are still the host's (the checker
    calls this before the subject exists)."""
    global _sleep_fd
    if _sleep_fd is None and os.path.exists(_SLEEP):
        _sleep_fd = os.open(_SLEEP, os.O_PATH)  # fexecve'd: kept across fork


@contextlib.contextmanager
def holding(path: str | os.PathLike, *, release_after: float | None = None,
            open_file: bool = False) -> Iterator[Holder]:
    """A process that keeps the mount at ``path`` busy (EBUSY): its working directory is
    ``path``, or with ``open_file`` it holds the file ``path`` open.

    With ``release_after``, the process ends after that many seconds. If something else ends it
    first, the check fails: the learner's code must wait for a busy mount, not kill its users.
    """
    path = os.fspath(path)
    keep_programs()
    seconds = f"{release_after:g}" if release_after is not None else "3600"
    started_r, started_w = os.pipe()  # both close-on-exec: EOF means sleep is running
    pid = os.fork()
    if pid == 0:
        try:
            ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # dies with the checker
            if _user_ns is not None:
                syscalls.setns(_user_ns, syscalls.CLONE_NEWUSER)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(os.open(path, os.O_RDONLY) if open_file else null, 0)
            os.dup2(null, 1)
            os.dup2(null, 2)
            if not open_file:
                os.chdir(path)
            # Nothing of the checker's: the subject may read this process's descriptors.
            low = 3
            for fd in sorted((started_w, _sleep_fd)):
                os.closerange(low, fd)
                low = fd + 1
            os.closerange(low, 1 << 16)
            os.execve(_sleep_fd, ["sleep", seconds], {})
        except BaseException as exc:  # noqa: B036 - never return into the checker
            os.write(started_w, str(exc).encode()[:500])
        finally:
            os._exit(127)
    os.close(started_w)
    failure = os.read(started_r, 1024)
    os.close(started_r)
    if failure:
        os.waitpid(pid, 0)
        raise RuntimeError(f"the check could not keep {path} busy: {failure.decode()}")
    _holders.add(pid)
    holder = Holder(pid)
    try:
        yield holder
    finally:
        holder.stop()
        if holder.killed_by:
            raise AssertionError(
                f"PID {holder.pid}, which kept {path} busy, was killed ({holder.killed_by}) "
                "before the check let it go: wait for a busy mount's users, never kill them")
