"""Boot a User-Mode Linux guest, run commands in it as guest root, power it off.

Where the host gives no mount privileges (Gradescope's Docker container, a locked-down lab
machine), Debian's ``user-mode-linux`` package gives a Linux kernel that runs as an ordinary
process, in which the kit's checks mount for real. The guest:

- runs as an unprivileged host uid (65534 when the caller is root), with no capability,
  ``no_new_privs`` and the XSTATE seccomp filter (``mountlab.backends.xstate``): whatever guest
  root does reaches the host's files only as that uid;
- sees the host's ``/`` read-only (hostfs), a fresh tmpfs on ``/tmp``, ``/run``...; the host
  folders the run may write (``writable``) are mounted writable at the same paths, so that every
  path in a command means the same in the guest;
- reaches the folders it is handed (the kit, the submission) even where that uid may not pass
  through a folder above them (root's home, mode 0700, where root clones the kit): the launcher
  opens each such folder before the guest drops to that uid and hands it the descriptor, which
  hostfs follows (``/proc/self/fd/N/.``); nothing else under the closed folder is reachable;
- has no network device, ``mem`` of memory, and a time limit: the host kills it at the deadline.

The commands' stdout and stderr are the caller's; the kernel's messages go to a boot log.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mountlab.backends import guest_init, xstate

BINARY_ENV = "MOUNTLAB_UML"  # another linux.uml
UID_ENV = "MOUNTLAB_UML_UID"  # the host uid the guest runs as, when started by root
MEM_ENV = "MOUNTLAB_UML_MEM"
DEFAULT_UID = 65534
DEFAULT_MEM = "768M"
#: Kept by the guest on top of each command's time limit, for boot and power-off.
MARGIN = 30.0

#: With only the FXSAVE state kept (the XSTATE filter), AVX registers do not survive a guest's
#: context switch: glibc is told not to use AVX, in every guest process (kernel arguments
#: NAME=value reach init's environment, and ``env -i`` passes it on, see ``guest_env``).
GLIBC_TUNABLES = ("glibc.cpu.hwcaps=-AVX,-AVX2,-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,"
                  "-AVX512CD,-EVEX,-AVX_Fast_Unaligned_Load")
#: Boot-time benchmarks and drivers the guest never uses: 0.17 s to init instead of 1.6 s.
#: raid6 and xor time their algorithms (btrfs and md would use them), zswap sizes a pool,
#: strparser starts a workqueue; legacy BSD ptys are 256 devices created one by one.
FAST_BOOT = ("initcall_blacklist=raid6_select_algo,calibrate_xor_blocks,init_zswap,"
             "strp_dev_init", "pty.legacy_count=0")


class UMLError(Exception):
    """The guest could not run the commands: ``text`` says why and what to do."""


@dataclass
class GuestResult:
    statuses: list[int]  # one per command that finished, in order
    boot_s: float  # from starting linux.uml to init starting the first command
    total_s: float  # from starting linux.uml to its exit
    uml_status: int  # linux.uml's own exit status (0 after a power-off)
    timed_out: bool = False
    log: str = ""  # the kernel's messages and UML's own (the end of them)
    commands: int = 0

    @property
    def status(self) -> int:
        """The status of the run as one command's: the first non-zero, 124 on a time-out,
        125 when the guest died before every command ran."""
        if self.timed_out:
            return 124
        if len(self.statuses) < self.commands:
            return 125
        return next((s for s in self.statuses if s != 0), 0)


def binary() -> str | None:
    """The UML kernel to boot: ``MOUNTLAB_UML``, else ``linux.uml`` on PATH or in /usr/bin."""
    given = os.environ.get(BINARY_ENV)
    if given:
        return given if os.access(given, os.X_OK) else None
    return shutil.which("linux.uml") or (
        "/usr/bin/linux.uml" if os.access("/usr/bin/linux.uml", os.X_OK) else None)


def guest_uid() -> int:
    """The host uid the guest runs as: the caller's own, or ``MOUNTLAB_UML_UID`` (default
    65534) when the caller is root. Never 0: guest root could then write the host's files
    through hostfs (``UMLError``)."""
    if os.geteuid() != 0:
        return os.geteuid()
    uid = int(os.environ.get(UID_ENV, DEFAULT_UID))
    if uid == 0:
        raise UMLError(f"{UID_ENV}=0: the guest must not run as the host's root (guest root "
                       "could write the host's files); give an unprivileged uid")
    return uid


def kernel_args(job_folder: str, fds: tuple[int, int, int], mem: str) -> list[str]:
    log, out, err = fds
    return [
        f"mem={mem}",
        "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "ro",  # the host's /, read-only
        f"init={job_folder}/init",
        # Console 0: the kernel and init (the boot log); 1 and 2: the commands' stdout and
        # stderr. No input: a guest never waits for a keyboard.
        "con=null", f"con0=null,fd:{log}", f"con1=null,fd:{out}", f"con2=null,fd:{err}",
        "ssl=null", "loglevel=4",
        *FAST_BOOT,
        *([f"GLIBC_TUNABLES={GLIBC_TUNABLES}"] if xstate.needed() else []),
    ]


def guest_env(env: Mapping[str, str]) -> dict[str, str]:
    """A command's environment in the guest: ``env`` plus what every guest process needs."""
    out = dict(env)
    if xstate.needed():
        out["GLIBC_TUNABLES"] = GLIBC_TUNABLES
    out.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    out["PYTHONDONTWRITEBYTECODE"] = "1"  # hostfs is read-only: no bytecode cache to write
    return out


def _python_path(env: Mapping[str, str]) -> list[str]:
    """The folders of ``PYTHONPATH``: the guest must see them too."""
    return [p for p in env.get("PYTHONPATH", "").split(":") if p and os.path.isdir(p)]


def _own(paths: Sequence[str], uid: int) -> None:
    """Hand ``paths`` (folders the caller created for this run) to ``uid``, recursively."""
    if os.geteuid() != 0 or uid == 0:
        return
    for top in paths:
        os.chown(top, uid, uid)
        for dirpath, dirnames, filenames in os.walk(top):
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), uid, uid)


@dataclass
class Reach:
    """How the guest reaches the folders it is handed (``reach``)."""

    covered: list[str]  # closed host folders, covered by a tmpfs in the guest
    sources: dict[str, str]  # folder -> what hostfs mounts for it, when not the folder itself
    fds: list[int]  # the descriptors the guest inherits (closed by the caller)


def _passable(path: str, uid: int, gid: int) -> bool:
    st = os.stat(path)
    if st.st_uid == uid:
        return bool(st.st_mode & 0o100)
    return bool(st.st_mode & (0o010 if st.st_gid == gid else 0o001))


def closed_folder(path: str, uid: int, gid: int) -> str | None:
    """The highest folder above ``path`` that ``uid`` (no supplementary group) may not pass
    through, or None."""
    current = "/"
    for part in path.strip("/").split("/")[:-1]:
        current = os.path.join(current, part)
        if not _passable(current, uid, gid):
            return current
    return None


def reach(folders: Sequence[str], uid: int) -> Reach:
    """Descriptors for the ``folders`` that ``uid`` cannot reach on the host (opened now, by
    the caller), and the closed folders above them. As another uid than root's, the guest has
    the caller's own reach: nothing to do."""
    found = Reach([], {}, [])
    if os.geteuid() != 0 or uid == os.geteuid():
        return found
    for folder in sorted(set(folders)):
        closed = closed_folder(folder, uid, uid)
        if closed is None or not os.path.isdir(folder):
            continue
        fd = os.open(folder, os.O_PATH | os.O_DIRECTORY)
        found.fds.append(fd)
        # hostfs would stat the link's target by its path; "/." makes it follow the link.
        found.sources[folder] = f"/proc/self/fd/{fd}/."
        if closed not in found.covered:
            found.covered.append(closed)
    return found


def _read_tail(path: Path, limit: int = 6000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode(errors="replace")


def run(commands: Sequence[Sequence[str]], *, cwd: str, env: Mapping[str, str],
        writable: Sequence[str] = (), visible: Sequence[str] = (), timeout: float = 600.0,
        stdout: IO | int | None = None, stderr: IO | int | None = None,
        mem: str | None = None, scratch: Sequence[str] = ()) -> GuestResult:
    """Boot a guest, run ``commands`` in it one after the other (as guest root, from ``cwd``,
    with exactly ``env``), power it off; each command gets ``timeout`` seconds, the whole boot
    ``timeout * len(commands) + MARGIN``. ``writable`` folders are handed to the guest's host
    uid (``chown -R`` when the caller is root): pass only folders made for this run."""
    uml = binary()
    if uml is None:
        raise UMLError("linux.uml not found: install it with `apt-get install user-mode-linux`")
    uid = guest_uid()
    started = time.monotonic()
    job = Path(tempfile.mkdtemp(prefix="mountlab-uml-"))
    found = Reach([], {}, [])
    try:
        home = job / "home"  # UML's $HOME/.uml and the file that backs the guest's memory
        home.mkdir()
        if closed_folder(str(job), uid, uid) is not None:
            raise UMLError(f"{job}: the guest's uid {uid} cannot reach this temporary folder; "
                           "set TMPDIR to a folder every user may pass through (/tmp)")
        outputs = [os.path.realpath(w) for w in writable]
        seen = {os.path.realpath(v) for v in (*visible, *_python_path(env))}
        if os.path.isdir(cwd) and closed_folder(os.path.realpath(cwd), uid, uid):
            seen.add(os.path.realpath(cwd))
        found = reach([*seen, *outputs], uid)
        init = job / "init"
        init.write_text(guest_init.script(guest_init.Job(
            folder=str(job), commands=[list(c) for c in commands], cwd=cwd, env=guest_env(env),
            writable=outputs, visible=sorted(seen), timeout=timeout,
            scratch=[os.path.realpath(p) for p in scratch], covered=found.covered,
            sources=found.sources)))
        init.chmod(0o755)
        job.chmod(0o755)
        _own([str(job), *writable], uid)
        result = _boot(uml, job, uid, len(commands), timeout * len(commands) + MARGIN,
                       stdout, stderr, mem or os.environ.get(MEM_ENV, DEFAULT_MEM), started,
                       found.fds)
    finally:
        for fd in found.fds:
            os.close(fd)
        shutil.rmtree(job, ignore_errors=True)  # our own folder: nothing is mounted on the host
    return result


def _boot(uml: str, job: Path, uid: int, count: int, limit: float, stdout: IO | int | None,
          stderr: IO | int | None, mem: str, started: float,
          handed: Sequence[int] = ()) -> GuestResult:
    # Copies above 2: the child's own 1 and 2 become the boot log.
    out = _copy(stdout, 1)
    err = _copy(stderr, 2)
    try:
        return _run_uml(uml, job, uid, count, limit, (out, err), mem, started, handed)
    finally:
        os.close(out)
        os.close(err)


def _run_uml(uml: str, job: Path, uid: int, count: int, limit: float, fds: tuple[int, int],
             mem: str, started: float, handed: Sequence[int] = ()) -> GuestResult:
    out, err = fds
    with open(job / "boot.log", "wb") as log:
        args = [uml, *kernel_args(str(job), (log.fileno(), out, err), mem)]
        env = {"HOME": str(job / "home"), "TMPDIR": str(job / "home"),
               "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        extra = {} if os.geteuid() != 0 else {"user": uid, "group": uid, "extra_groups": []}
        # A process group of its own: its helper processes outlive a killed linux.uml
        # (orphaned, asleep for good) unless the whole group is killed.
        proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT,
                                pass_fds=(log.fileno(), out, err, *handed),
                                preexec_fn=_confine, cwd="/", start_new_session=True, **extra)
        try:
            timed_out = not _ended_within(proc.pid, limit)
        finally:
            # However it ended (powered off, past the limit, killed by another hand: the OOM
            # killer, kill -9), its group goes with it, before it is reaped: until then its
            # pid, the group's id, names no other group.
            _kill(proc)
    ended = time.monotonic()
    statuses = _statuses(job / guest_init.STATUS)
    boot = _boot_seconds(job / guest_init.STARTED, started)
    return GuestResult(statuses=statuses, boot_s=boot if boot is not None else ended - started,
                       total_s=ended - started, uml_status=proc.returncode, timed_out=timed_out,
                       log=_read_tail(job / "boot.log"), commands=count)


def _copy(stream: IO | int | None, default: int) -> int:
    """A new descriptor (the caller closes it) for ``stream``: a file, a descriptor, None for
    ``default``, or ``subprocess.DEVNULL``."""
    if stream == subprocess.DEVNULL:
        return os.open(os.devnull, os.O_WRONLY)
    if stream is None:
        return os.dup(default)
    if isinstance(stream, int):
        return os.dup(stream)
    stream.flush()
    return os.dup(stream.fileno())


def _confine() -> None:
    """In the child, before exec: no_new_privs, the XSTATE filter; die with the launcher."""
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if xstate.needed():
        xstate.install()


def _ended_within(pid: int, seconds: float) -> bool:
    """``pid`` (our child) has ended within ``seconds``; not reaped, so its pid stays ours."""
    import select

    pidfd = os.pidfd_open(pid)
    try:
        return bool(select.select([pidfd], [], [], max(0.0, seconds))[0])
    finally:
        os.close(pidfd)


def _kill(proc: subprocess.Popen) -> None:
    """Kill linux.uml and its helper processes (its process group: they do not die with it),
    then reap linux.uml."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _statuses(path: Path) -> list[int]:
    try:
        return [int(line) for line in path.read_text().split() if line.strip().isdigit()]
    except OSError:
        return []


def _boot_seconds(path: Path, started: float) -> float | None:
    """Init's wall-clock time when it started the first command (UML reads the host's clock),
    made relative to ``started`` (monotonic)."""
    try:
        at = float(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return max(0.0, at - (time.time() - (time.monotonic() - started)))


def main(argv: list[str] | None = None) -> int:
    """``python -m mountlab.backends.uml [--writable DIR]... [--timeout S] -- COMMAND...``:
    COMMAND in a guest, from this folder, with this environment; exits with its status."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m mountlab.backends.uml")
    parser.add_argument("--writable", action="append", default=[], metavar="DIR")
    parser.add_argument("--visible", action="append", default=[], metavar="DIR")
    parser.add_argument("--scratch", action="append", default=[], metavar="DIR",
                        help="an existing folder the guest covers with a tmpfs of its own")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --")
    try:
        from mountlab.backends import forward

        result = run([command], cwd=os.getcwd(), env=forward.guest_env(), writable=args.writable,
                     visible=[*args.visible, *visible_paths(command, os.getcwd())],
                     timeout=args.timeout, scratch=args.scratch)
    except (UMLError, ValueError, OSError) as exc:
        print(f"mountlab: User-Mode Linux: {exc}", file=sys.stderr)
        return 125
    if result.status == 125:
        print(f"mountlab: the User-Mode Linux guest stopped before the command ended (linux.uml "
              f"exit status {result.uml_status}); its log ends with:\n{result.log[-2000:]}",
              file=sys.stderr)
    return result.status


def visible_paths(command: Sequence[str], cwd: str) -> list[str]:
    """The host folders a command needs to see: the kit, the interpreter, the working folder,
    and every existing path named in its arguments (``--impl DIR``, ``--opt=FILE``...)."""
    from mountlab import registry

    found = {os.path.realpath(p) for p in (cwd, str(registry.KIT_ROOT), sys.prefix,
                                           sys.base_prefix)}
    found.add(os.path.dirname(os.path.realpath(sys.executable)))
    for arg in command:
        for part in (arg, arg.split("=", 1)[-1]):
            path = part if os.path.isabs(part) else os.path.join(cwd, part)
            if part and not part.startswith("-") and os.path.exists(path):
                path = os.path.realpath(path)
                found.add(path if os.path.isdir(path) else os.path.dirname(path))
    return sorted(found)


if __name__ == "__main__":
    sys.exit(main())
