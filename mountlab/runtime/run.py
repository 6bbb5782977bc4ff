"""``container run``: validate, then start the container in fresh namespaces.

Three processes::

    runtime (host namespaces)      validates every spec, records the container, holds its lock,
      |                            removes its directory at the end
      +- keeper (new mount, UTS, PID namespaces; + user namespace when not root)
           |                       mounts the overlay root, /dev and the volumes (through the
           |                       active step 4), waits, then unmounts the volumes through step 4
           +- init (PID 1; its own copy of the mount namespace)
                                   mounts /proc, pivot_root, execs the command

The keeper is forked as soon as the run starts: while the runtime checks the specs (on the other
CPU, when there is one), it makes its namespaces and imports what mounting needs. It touches
nothing on the host until the runtime has sent it the checked plan (through a pipe, as
``marshal`` data); a refused run kills it. It tells the runtime "P<pid>" when the command runs
(the runtime records it) and the exit status once the volumes are unmounted.

Every mount happens in the keeper's private mount namespace: when the last process in it dies, the
kernel drops them all, so a ``kill -9`` at any moment leaves nothing mounted on the host. The init
gets a copy of that namespace before pivot_root, so that the keeper still sees the volumes at their
host paths and can hand exactly those to the learner's teardown. Both children die with their
parent (PR_SET_PDEATHSIG) and the container's record is alive only while the runtime holds its
flock, so a killed runtime never leaves a ghost in ``ps``.
"""

from __future__ import annotations

import marshal
import os
import stat
import sys
import time

from mountlab.errors import VolumeSpecError
from mountlab.runtime import learner, rootfs, spec, state
from mountlab.runtime.spec import Tmpfs, clean_target
from mountlab.volume import Volume, volume_data_dir

TYPE_CHECKING = False  # typing costs milliseconds to import: only for the type checkers
if TYPE_CHECKING:
    from typing import Any

try:
    # The C module behind ``signal``: the same calls and numbers, without the enums that
    # ``signal`` builds at import (a millisecond of every run).
    import _signal as signal
except ImportError:  # pragma: no cover - a Python without it
    import signal

__all__ = ["run", "RunError", "DEFAULT_PATH", "error"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EXIT_RUNTIME, EXIT_CANNOT_RUN, EXIT_NOT_FOUND = 125, 126, 127
_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
_INTERACTIVE = (signal.SIGINT, signal.SIGQUIT)


class RunError(Exception):
    """The run is refused or the runtime failed: exit 125 with this one-line message."""


def _one_line(text: str) -> str:
    # A path may hold a newline or a tab: the error must stay one line a script can grep.
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def error(message: str) -> None:
    """Print ``container: error: <message>`` on stderr, on one line."""
    sys.stderr.write(f"container: error: {_one_line(message)}\n")
    sys.stderr.flush()


def warn(message: str) -> None:
    sys.stderr.write(f"container: warning: {_one_line(message)}\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# validation: nothing on the host is created or changed before all of it has passed


def _image(ref: str) -> tuple[str, str, dict[str, Any]]:
    """(name, rootfs, config) of image ``ref``: a name under ``<state>/images``, or the path of a
    root filesystem directory (``./rootfs``, ``/srv/rootfs``)."""
    if ref.startswith(("/", "./", "../")):
        if not os.path.isdir(ref):
            raise RunError(f"image root filesystem not found: {ref}")
        return ref, os.path.realpath(ref), {}
    lower = state.image_rootfs(ref)
    if "/" in ref or not ref or not os.path.isdir(lower):
        how = (f"./container image build {ref}" if ref in ("busybox", "debian", "ubuntu")
               else f"./container image import {ref} FILE.tar")
        raise RunError(f"Unable to find image '{ref}' locally: build it with {how} "
                       "(./container image ls lists the images)")
    return ref, os.path.realpath(lower), {"path": os.path.dirname(lower)}


def _image_config(config: dict[str, Any]) -> dict[str, Any]:
    """The image's ``image.json`` (read only when its default command is needed)."""
    if "path" not in config:
        return config
    import json

    try:
        with open(os.path.join(config["path"], "image.json"), encoding="utf-8") as f:
            found = json.load(f)
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _default_command(lower: str, config: dict[str, Any]) -> list[str]:
    cmd = _image_config(config).get("Cmd")
    if isinstance(cmd, list) and cmd and all(isinstance(c, str) for c in cmd):
        return cmd
    for shell in ("/bin/bash", "/bin/sh"):
        if os.path.lexists(rootfs.resolve_in_root(lower, shell)):
            return [shell]
    raise RunError("no command given and the image has no /bin/bash or /bin/sh")


def _parse_volume(text: str) -> Volume:
    """``-v`` goes through the active step 5, so that the learner's parser is the one used."""
    try:
        volume = learner.call(5, "parse_volume_spec", text)
    except learner.StepFailed as exc:
        if isinstance(exc.error, VolumeSpecError):
            raise RunError(_naming(str(exc.error), "-v", text)) from None
        _learner_bug(exc, f"parse_volume_spec({text!r})")
    if not isinstance(volume, Volume):
        raise RunError(f"step 5: parse_volume_spec({text!r}) returned {volume!r}, not a Volume; "
                       f"see {_readme(5)}")
    return volume


def _naming(message: str, flag: str, text: str) -> str:
    """Docker's wording, plus the spec when the wording does not show it (``invalid mode: x``)."""
    return message if f"'{text}'" in message else f"{message} (in {flag} '{text}')"


def _readme(number: int) -> str:
    from mountlab import registry

    return registry.get(number).readme()


def _learner_bug(exc: learner.StepFailed, call: str) -> None:
    """A step raised something other than a clear refusal: show where in the learner's file."""
    frames = learner.learner_frames(exc.error)
    if frames and not isinstance(exc.error, OSError):
        sys.stderr.write(f"Traceback (the steps' code only):\n{frames}")
    raise RunError(f"step {exc.step}: {call} raised {learner.describe(exc.error)}; see "
                   f"{_readme(exc.step)}") from None


def _is_dir_source(m: Volume | Tmpfs) -> bool:
    if m.kind != "bind":
        return True  # named and anonymous volumes and tmpfs are directories
    try:
        return stat.S_ISDIR(os.stat(m.source).st_mode)
    except FileNotFoundError:
        return True  # -v creates a missing source as a directory
    except OSError as exc:
        raise RunError(f"cannot use bind source {m.source}: {exc.strerror}") from None


def _check_against_image(lower: str, mounts: list[tuple[str, Volume | Tmpfs]]) -> None:
    """Refuse what would fail half-way through the start: a file over a directory of the image or
    the reverse, a target below a file mount, a target that the image's symlinks lead into /proc."""
    files: dict[str, str] = {}
    for text, m in mounts:
        target = clean_target(m.target)
        try:
            host = rootfs.resolve_in_root(lower, target)
        except OSError as exc:
            raise RunError(f"cannot resolve {target} in the image: {exc.strerror}: "
                           f"'{text}'") from None
        inner = "/" + os.path.relpath(host, lower).removeprefix(".").lstrip("/")
        if inner == "/":
            raise RunError(f"invalid mount path: '{target}' leads to the container's / through "
                           f"the image's symlinks: '{text}'")
        if inner == "/proc" or inner.startswith("/proc/"):
            raise RunError(f"invalid mount path: '{target}' leads into /proc through the image's "
                           f"symlinks: '{text}'")
        is_dir = _is_dir_source(m)
        try:
            st = os.lstat(host)
        except FileNotFoundError:
            pass
        except NotADirectoryError:
            raise RunError(f"cannot mount on {target}: one of its parents in the image is not a "
                           f"directory: '{text}'") from None
        else:
            if is_dir != stat.S_ISDIR(st.st_mode):
                what, there = ("directory", "file") if is_dir else ("file", "directory")
                raise RunError(f"cannot mount {what} {m.source or m.kind} on {target}: the image "
                               f"has a {there} there (are you trying to mount a directory onto a "
                               f"file or vice-versa?): '{text}'")
        if not is_dir:
            files[target] = m.source
    for text, m in mounts:
        target = clean_target(m.target)
        parent = os.path.dirname(target)
        while parent != "/":
            if parent in files:
                raise RunError(f"cannot mount on {target}: {parent} is a file mount of "
                               f"{files[parent]}: '{text}'")
            parent = os.path.dirname(parent)


def _plan(args: Any) -> dict[str, Any]:
    """Check everything about the run and return what ``_start`` needs; creates nothing."""
    mounts: list[tuple[str, Volume | Tmpfs]] = []
    for text in args.volume or ():
        mounts.append((text, _parse_volume(text)))
    for text in args.mount or ():
        try:
            mounts.append((text, spec.parse_mount_spec(text)))
        except VolumeSpecError as exc:
            raise RunError(str(exc)) from None
    try:
        spec.check_mounts(mounts)
    except VolumeSpecError as exc:
        flag = "-v" if exc.spec in (args.volume or ()) else "--mount"
        raise RunError(_naming(str(exc), flag, exc.spec or "")) from None
    name, lower, config = _image(args.image)
    _check_against_image(lower, mounts)
    command = list(args.command or ()) or _default_command(lower, config)
    if args.name is not None:
        if not spec.valid_name(args.name) or len(args.name) > 128:
            raise RunError(f'Invalid container name ("{args.name}"), only '
                           "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    # Stale records of killed runtimes go now; then a live name is a real conflict.
    for record in state.list_containers():
        if args.name is not None and record.get("name") == args.name:
            raise RunError(f'Conflict. The container name "/{args.name}" is already in use by '
                           f'container "{record.get("id")}". Stop it or choose another name.')
    return {"image": name, "lower": lower, "command": command, "mounts": mounts,
            "name": args.name, "rm": bool(args.rm), "hostname": args.hostname}


# ---------------------------------------------------------------------------------------------
# the runtime process


def run(args: Any) -> int:
    """``container run``: the exit status of the command, or 125/126/127 like Docker."""
    keeper = _Keeper(preload=bool(getattr(args, "volume", None) or getattr(args, "mount", None)))
    try:
        try:
            plan = _plan(args)
        except learner.StepNotReady as exc:
            error(f"{exc} (needed by -v)")
            return EXIT_RUNTIME
        except RunError as exc:
            error(str(exc))
            return EXIT_RUNTIME
        try:
            return _start(plan, keeper)
        except RunError as exc:
            error(str(exc))
            return EXIT_RUNTIME
        except OSError as exc:
            error(f"cannot start the container: {exc}")
            return EXIT_RUNTIME
    finally:
        keeper.cancel()  # the run ended before the keeper got its plan


def _record(cid: str, plan: dict[str, Any], volumes: list[Volume], tmpfs: list[Tmpfs],
            anonymous: set[str]) -> dict[str, Any]:
    now = time.time()
    return {
        "id": cid, "name": plan["name"] or cid[:12], "image": plan["image"],
        "rootfs_lower": plan["lower"], "rootfs": plan["merged"], "command": plan["command"],
        "created": now, "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        + f".{int(now % 1 * 1e6):06d}Z", "status": "starting", "pid": None,
        "runtime_pid": os.getpid(), "hostname": plan["hostname"] or cid[:12],
        "userns": os.geteuid() != 0, "env": plan["env"],
        "volumes": [{"kind": v.kind, "name": v.source if v.kind == "volume" else None,
                     "source": volume_data_dir(v.source) if v.kind == "volume" else v.source,
                     "target": clean_target(v.target), "read_only": v.read_only,
                     "propagation": v.propagation or "rprivate", "modes": v.modes,
                     "anonymous": v.source in anonymous} for v in volumes],
        "tmpfs": [{"target": clean_target(t.target), "read_only": t.read_only,
                   "options": t.options()} for t in tmpfs],
    }


def _start(plan: dict[str, Any], keeper: _Keeper) -> int:
    cid = state.new_container_id()
    # Real paths: the keeper compares them with the kernel's mount table, which has no symlinks.
    os.makedirs(state.containers_dir(), mode=0o711, exist_ok=True)
    cdir = os.path.join(os.path.realpath(state.containers_dir()), cid)
    # Anonymous volumes get their name now (Docker: 64 hex digits; here the container's id and
    # the spec's position), so that the record and --rm know where their data is.
    volumes: list[Volume] = []
    tmpfs: list[Tmpfs] = []
    anonymous: set[str] = set()
    ordered: list[Volume | Tmpfs] = []
    for index, (_, m) in enumerate(plan["mounts"]):
        if isinstance(m, Tmpfs):
            tmpfs.append(m)
        else:
            if m.kind == "volume" and not m.source:
                m = Volume(f"{cid}-{index}", m.target, m.read_only, "volume", m.propagation,
                           m.modes)
                anonymous.add(m.source)
            volumes.append(m)
        ordered.append(m)
    tty = os.ttyname(0) if os.isatty(0) else None
    hostname = plan["hostname"] or cid[:12]
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": "/root"}
    if tty or os.isatty(1):
        env["TERM"] = os.environ.get("TERM") or "xterm"
    plan.update(cid=cid, layer=os.path.join(cdir, "fs"),
                merged=os.path.join(cdir, "fs", "rootfs"), ordered=ordered, tty=tty, env=env,
                hostname=hostname)
    plan["record"] = _record(cid, plan, volumes, tmpfs, anonymous)
    lock = state.create_container(cid, plan["record"])
    try:
        os.mkdir(plan["layer"], 0o755)
        status = _supervise(plan, keeper, lock)
    finally:
        os.close(lock)  # the record is dead from here on, whatever happens next
        if not state.remove_container(cid):
            if plan.get("keeper"):
                os.waitpid(plan.pop("keeper"), 0)  # its overlay may still have been going away
            if not state.remove_container(cid):
                warn(f"left {cdir} in place: something is mounted below it")
        if plan["rm"]:
            _remove_anonymous(anonymous)
    return status


def _remove_anonymous(names: set[str]) -> None:
    if not names:
        return
    from mountlab import fsutil

    for name in names:
        path = os.path.dirname(volume_data_dir(name))
        if os.path.isdir(path) and not os.path.islink(path):
            try:
                fsutil.remove_tree(path, ignore_errors=True)
            except fsutil.MountedError:  # never deleted through a mount: left in place
                pass


def _on_signal(child: int) -> Any:
    """A handler passing signals on to ``child`` (the runtime must outlive its container)."""
    def handler(signum: int, _frame: Any) -> None:
        if signum in _INTERACTIVE and os.isatty(0):
            return  # the terminal sent it to the whole foreground group, the keeper included
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass
    return handler


def _wait(pid: int) -> int:
    """Wait for ``pid``; its exit status, or 128+N when signal N killed it (as a shell says)."""
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


class _Keeper:
    """The keeper process, forked when the run starts (see the module's docstring)."""

    def __init__(self, preload: bool = False) -> None:
        self.pid: int | None = None
        self.plan_w = self.report_r = -1
        self.preload = preload
        try:
            self._fork()
        except OSError:
            pass  # tried again once the run is checked, and reported then (exit 125)

    def _fork(self, *private: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        plan_r, plan_w = os.pipe2(os.O_CLOEXEC)
        # The keeper reports its exit status here once the volumes are unmounted, so the runtime
        # need not wait while the kernel tears its namespaces down (tens of ms on a busy host).
        report_r, report_w = os.pipe2(os.O_CLOEXEC)
        try:
            pid = os.fork()
        except OSError:
            for fd in (plan_r, plan_w, report_r, report_w):
                os.close(fd)
            raise
        if pid == 0:
            for fd in (plan_w, report_r, *private):
                os.close(fd)
            _keeper_main(parent, plan_r, report_w, self.preload)  # never returns
        os.close(plan_r)
        os.close(report_w)
        self.pid, self.plan_w, self.report_r = pid, plan_w, report_r

    def start(self, lock: int) -> int:
        """The keeper's PID, forking it now if that failed when the run started (then without
        the lock: the runtime alone holds it, so that the record dies with the runtime)."""
        if self.pid is None:
            self._fork(lock)
        return self.pid

    def send(self, plan: dict[str, Any]) -> None:
        """Hand the keeper the checked plan: from here on it mounts."""
        wire = {key: plan[key] for key in _WIRE}
        wire["ordered"] = [(True, (m.target, m.read_only, m.size, m.mode)) if isinstance(m, Tmpfs)
                           else (False, tuple(m)) for m in plan["ordered"]]
        try:
            data = b"M" + marshal.dumps(wire)
        except ValueError:  # a step returned something marshal does not know (a str subclass)
            import pickle

            data = b"P" + pickle.dumps(wire)
        fd, self.plan_w = self.plan_w, -1
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except BrokenPipeError:
            pass  # the keeper is gone: its exit status tells how
        finally:
            os.close(fd)

    def cancel(self) -> None:
        """The run ends before the plan was sent: the keeper has touched nothing, end it."""
        if self.report_r >= 0 and self.plan_w < 0:
            os.close(self.report_r)  # sent, then the runtime failed: the keeper dies with it
            self.report_r = -1
        if self.plan_w < 0:
            return
        os.close(self.plan_w)
        os.close(self.report_r)
        self.plan_w = self.report_r = -1
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


# What the keeper needs of the plan, besides the mounts ("ordered").
_WIRE = ("cid", "lower", "layer", "merged", "tty", "hostname", "command", "env")


def _receive(fd: int) -> bytes:
    """What the runtime sent (b"" when it closed the pipe without sending a plan)."""
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def _decode(data: bytes) -> dict[str, Any]:
    if data[:1] == b"P":
        import pickle

        plan = pickle.loads(data[1:])
    else:
        plan = marshal.loads(data[1:])
    plan["ordered"] = [Tmpfs(*fields) if is_tmpfs else Volume(*fields)
                       for is_tmpfs, fields in plan["ordered"]]
    return plan


def _supervise(plan: dict[str, Any], keeper: _Keeper, lock: int) -> int:
    pid = keeper.start(lock)
    handler = _on_signal(pid)
    for signum in _FORWARDED + _INTERACTIVE:
        signal.signal(signum, handler)
    keeper.send(plan)
    # The keeper writes "P<pid>\n" when the command runs, then its exit status once the volumes
    # are unmounted; each is one write of a few bytes, so a read never gets half of one.
    reader, report = keeper.report_r, b""
    while chunk := os.read(reader, 64):
        report += chunk
        while report[:1] == b"P" and b"\n" in report:
            line, _, report = report.partition(b"\n")
            plan["record"].update(pid=int(line[1:]), status="running")
            state.write_state(plan["cid"], plan["record"])
        if report.isdigit():
            break  # no need to wait for the keeper's exit (its memory, its namespaces)
    os.close(reader)
    keeper.report_r = -1
    if report.isdigit():
        plan["keeper"] = pid  # still exiting: _start reaps it if it needs to
        return int(report)
    return _wait(pid)  # killed before it could report


def _report(exc: BaseException) -> None:
    if isinstance(exc, SystemExit):
        return
    if isinstance(exc, (RunError, learner.StepNotReady)):
        error(str(exc))
    elif isinstance(exc, OSError):
        error(f"cannot start the container: {exc}")
    elif isinstance(exc, KeyboardInterrupt):
        error("interrupted")
    else:
        import traceback

        traceback.print_exc()
        error(f"the runtime failed: {type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------------------------------
# the keeper: inside the new namespaces, owns the mounts


def _groups(ordered: list[Volume | Tmpfs]) -> list[list[Volume | Tmpfs]]:
    """Parents before children across volumes and tmpfs: sort by depth (stably), then cut into
    runs of one kind, so that step 4 receives the volumes of each run together."""
    ordered = sorted(ordered, key=lambda m: clean_target(m.target).count("/"))
    groups: list[list[Volume | Tmpfs]] = []
    for m in ordered:
        if groups and isinstance(groups[-1][0], Tmpfs) == isinstance(m, Tmpfs):
            groups[-1].append(m)
        else:
            groups.append([m])
    return groups


def _setup_volumes(plan: dict[str, Any], group: list[Volume]) -> list[str]:
    merged = plan["merged"]
    # Ask the learner's resolve_target first: a target that it would put outside the root
    # filesystem is refused before step 4 creates anything there.
    resolved = []
    for v in group:
        try:
            where = learner.call(4, "resolve_target", merged, v.target)
        except learner.StepFailed as exc:
            if isinstance(exc.error, OSError):
                raise RunError(f"step 4: resolve_target refused {v.target}: "
                               f"{learner.describe(exc.error)}") from None
            _learner_bug(exc, f"resolve_target({merged!r}, {v.target!r})")
        if not isinstance(where, (str, os.PathLike)) or not rootfs.inside(
                merged, where, root_is_real=True):
            raise RunError(f"step 4: resolve_target({merged!r}, {v.target!r}) returned "
                           f"{where!r}, outside the container's root filesystem; refusing to "
                           f"mount there (see {_readme(4)})")
        resolved.append((v, where))
    for v, where in resolved:  # every target accepted: only now is anything created
        if v.kind == "bind" and not os.path.lexists(v.source):
            # -v creates a missing host directory, 0755, as Docker does (--mount refused it while
            # planning): through the learner's step 1, with the mount point step 4 resolved.
            try:
                learner.call(1, "setup_volume", v.source, os.fspath(where))
            except learner.StepFailed as exc:
                if isinstance(exc.error, OSError):
                    raise RunError(f"cannot create the bind source {v.source}: "
                                   f"{learner.describe(exc.error)}") from None
                _learner_bug(exc, f"setup_volume({v.source!r}, {os.fspath(where)!r})")
    try:
        mounted = learner.call(4, "setup_container_volumes", plan["cid"], merged, group)
    except learner.StepFailed as exc:
        if isinstance(exc.error, OSError):
            raise RunError(f"cannot mount the volumes: {learner.describe(exc.error)}") from None
        _learner_bug(exc, "setup_container_volumes()")
    if not isinstance(mounted, (list, tuple)) or len(mounted) != len(group):
        warn(f"step 4: setup_container_volumes() returned {mounted!r:.80} for {len(group)} "
             f"volume(s); it must return the list of host paths it mounted (see {_readme(4)})")
    mounted = [os.fspath(p) for p in mounted or ()]
    escaped = [p for p in mounted if not rootfs.inside(merged, p, root_is_real=True)]
    if escaped:
        _teardown_volumes(plan["cid"], mounted)
        raise RunError(f"step 4 mounted {escaped[0]}, outside the container's root filesystem; "
                       f"refused (see {_readme(4)})")
    return mounted


def _teardown_volumes(cid: str, mounted: list[str]) -> None:
    try:
        learner.call(4, "teardown_container_volumes", cid, mounted)
    except (learner.StepNotReady, learner.StepFailed) as exc:
        warn(f"unmounting the volumes through step 4: {exc}; the kernel drops them with the "
             "container's mount namespace anyway")


def _mount_tmpfs(merged: str, t: Tmpfs) -> str:
    from mountlab import syscalls

    path = rootfs.resolve_in_root(merged, t.target)
    os.makedirs(path, 0o755, exist_ok=True)
    flags = syscalls.MS_NOSUID | syscalls.MS_NODEV | (syscalls.MS_RDONLY if t.read_only else 0)
    syscalls.mount("tmpfs", path, "tmpfs", flags, t.options() or None)
    return path


def _enforce(plan: dict[str, Any], volumes: list[Volume]) -> None:
    """Read-only volumes must be read-only all the way down (their submounts too), and the
    propagation asked for applied. If the step left a writable mount, say so and fix it."""
    if not any(v.read_only or (v.propagation and v.propagation != "rprivate") for v in volumes):
        return  # nothing to check: no need to resolve every target again
    from mountlab import syscalls

    merged = plan["merged"]
    where = {id(v): rootfs.resolve_in_root(merged, v.target) for v in volumes}
    if any(v.read_only for v in volumes):
        # Sorted mount points and one range per volume: linear in the number of volumes, so a
        # thousand read-only volumes cost no more each than ten.
        import bisect

        from mountlab import mountinfo

        writable = sorted(m.mountpoint for m in mountinfo.read() if not m.read_only)
        points = set(where.values())
        fixed: list[str] = []
        for v in volumes:
            if not v.read_only:
                continue
            top = where[id(v)]
            below = writable[bisect.bisect_left(writable, top):
                             bisect.bisect_left(writable, top + "0")]  # "0" follows "/"
            for point in below:
                if point != top and not point.startswith(top + "/"):
                    continue
                parent = point
                while parent != top and parent not in points:
                    parent = os.path.dirname(parent)
                if parent == top:  # not inside another volume, which may well be writable
                    fixed.append(point)
                    if len(fixed) == 1:
                        warn(f"{v.target} was asked read-only but {point} was left writable: "
                             f"the runtime made it read-only (see {_readme(2)})")
        for point in dict.fromkeys(fixed):
            syscalls.mount_setattr(point, syscalls.MOUNT_ATTR_RDONLY)
    for v in volumes:
        if v.propagation and v.propagation != "rprivate":
            flag = {"shared": syscalls.MS_SHARED, "slave": syscalls.MS_SLAVE,
                    "private": syscalls.MS_PRIVATE}[v.propagation.removeprefix("r")]
            rec = syscalls.MS_REC if v.propagation.startswith("r") else 0
            syscalls.mount(None, where[id(v)], flags=flag | rec)


def _keeper_main(parent: int, plan_r: int, report_w: int, preload: bool) -> None:
    """The keeper process: never returns. Its namespaces first, then the plan, then the rest.

    Until the plan comes, a ^C is only noted: a run refused or interrupted while being checked
    ends here without a word (the runtime says what there is to say); one that goes ahead is
    interrupted as soon as the plan is read, as it was before the keeper started early.
    """
    code, refused = EXIT_RUNTIME, False
    interrupted: list[int] = []
    try:
        previous = signal.getsignal(signal.SIGINT)
        if previous is signal.default_int_handler:
            signal.signal(signal.SIGINT, lambda signum, _frame: interrupted.append(signum))
        userns = os.geteuid() != 0
        failed: Exception | None = None
        try:
            from mountlab.runtime import namespaces

            namespaces.die_with_parent(signal.SIGKILL, parent)
            namespaces.create(user=userns)
            rootfs.make_private("/")
        except Exception as exc:  # noqa: BLE001 - said only if the run goes ahead
            failed = exc
        if preload:  # what the steps' files import, ready before they run
            try:
                import mountlab.impl
                import mountlab.mountinfo  # noqa: F401
            except Exception:  # noqa: BLE001 - the step that imports it will say what is wrong
                pass
        data = _receive(plan_r)
        refused = not data
        signal.signal(signal.SIGINT, previous)
        if not refused:
            if interrupted:
                raise KeyboardInterrupt
            if failed is not None:
                raise failed
            plan = _decode(data)
            plan["report"] = report_w
            code = _keeper(plan, userns)
    except BaseException as exc:  # noqa: BLE001 - a forked child must never return
        if not refused:
            _report(exc)
    finally:
        if refused:
            os._exit(0)  # the run was refused or interrupted: nothing to say
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.write(report_w, b"%d" % code)
        finally:
            os._exit(code)


def _keeper(plan: dict[str, Any], userns: bool) -> int:
    from mountlab.runtime import namespaces

    merged = rootfs.mount_overlay(plan["lower"], plan["layer"], userns=userns)
    rootfs.setup_dev(merged, plan["tty"])
    namespaces.set_hostname(plan["hostname"])
    done: list[tuple[bool, list[str]]] = []  # (is_tmpfs, paths) in mount order
    try:
        volumes: list[Volume] = []
        for group in _groups(plan["ordered"]):
            if isinstance(group[0], Tmpfs):
                done.append((True, [_mount_tmpfs(merged, t) for t in group]))
            else:
                done.append((False, _setup_volumes(plan, group)))
                volumes += group
        _enforce(plan, volumes)
        return _run_init(plan)
    finally:
        _teardown(plan, done)


def _teardown(plan: dict[str, Any], done: list[tuple[bool, list[str]]]) -> None:
    """Undo in reverse: our own tmpfs directly, the volumes through the learner's step 4."""
    from mountlab import syscalls

    for is_tmpfs, paths in reversed(done):
        if is_tmpfs:
            for path in reversed(paths):
                try:
                    syscalls.umount2(path, syscalls.MNT_DETACH)
                except OSError:
                    pass  # dropped with the namespace anyway
        elif paths:
            _teardown_volumes(plan["cid"], paths)


def _run_init(plan: dict[str, Any]) -> int:
    """Start the container's first process and wait for it; its exit status."""
    keeper = os.getpid()
    reader, writer = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    init = os.fork()
    if init == 0:
        os.close(reader)
        _init(plan, keeper, writer)  # never returns
    os.close(writer)
    counter = [0]

    def handler(signum: int, _frame: Any) -> None:
        if signum in _INTERACTIVE:
            # A PID 1 without a handler ignores ^C (like docker run without --init): the third
            # one kills it. From a terminal the command got the signal already; else pass it on.
            counter[0] += 1
            if counter[0] >= 3:
                signum = signal.SIGKILL
            elif os.isatty(0):
                return
        try:
            os.kill(init, signum)
        except ProcessLookupError:
            pass

    for signum in _FORWARDED + _INTERACTIVE:
        signal.signal(signum, handler)
    # The init writes here only when it fails; the pipe closes without data when exec succeeds.
    chunks = []
    while chunk := os.read(reader, 65536):
        chunks.append(chunk)
    os.close(reader)
    failure = b"".join(chunks)
    if not failure:
        os.write(plan["report"], b"P%d\n" % init)  # the runtime records it as running
    status = _wait(init)
    if failure:
        code, _, message = failure.decode(errors="replace").partition(" ")
        error(message)
        return int(code) if code.isdigit() else EXIT_RUNTIME
    return status


def _init(plan: dict[str, Any], keeper: int, writer: int) -> None:
    """PID 1 of the container: never returns (exec or _exit)."""
    from mountlab import syscalls
    from mountlab.runtime import namespaces

    code, message = EXIT_RUNTIME, "the container's init failed"
    try:
        namespaces.die_with_parent(signal.SIGKILL, keeper, new_pid_ns=True)
        # Our own copy of the mount namespace: pivot_root here leaves the keeper's view intact.
        syscalls.unshare(syscalls.CLONE_NEWNS)
        rootfs.mount_proc(plan["merged"])
        rootfs.pivot(plan["merged"])
        for signum in (*_FORWARDED, *_INTERACTIVE, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(signum, signal.SIG_DFL)  # Python ignores SIGPIPE; the command must not
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
