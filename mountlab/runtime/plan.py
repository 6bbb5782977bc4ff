"""The run plan: from ``run``'s arguments and the image to what will be mounted where.

``make`` checks everything about a run and creates nothing: the ``-v`` specs through the
learner's step 5, the ``--mount`` specs, the image, each target against the image's own files
and symlinks, the default command, the name. A refused run has changed nothing on the host.

``place`` then gives the accepted plan its container: the id's paths, the anonymous volumes'
names, the environment. The keeper receives it as one line of JSON (``to_json``/``from_json``):
plain data, nothing a process could execute while reading it.

The plan is a dict::

    image, lower        the image's name and its rootfs (the overlay's lower layer)
    command, name, rm, hostname         from the arguments (command: else the image's)
    mounts              [(spec text, Volume | Tmpfs)] in the order given
    cid, layer, merged  set by place: the id, the overlay's tmpfs, the container's root
    ordered             the mounts once anonymous volumes have their name
    volumes, tmpfs, anonymous           the same, by kind; anonymous volumes' names
    tty, env            the caller's terminal, the command's environment
    record, keeper      added by run.py: the container's state.json, the keeper's PID
"""

from __future__ import annotations

import os
import stat

from mountlab.errors import VolumeSpecError
from mountlab.messages import say
from mountlab.runtime import learner, rootfs, spec, state
from mountlab.runtime.errors import RunError, learner_bug, readme
from mountlab.runtime.spec import Tmpfs, clean_target
from mountlab.volume import Volume

TYPE_CHECKING = False  # typing costs milliseconds to import: only for the type checkers
if TYPE_CHECKING:
    from typing import Any

__all__ = ["make", "place", "to_json", "from_json", "DEFAULT_PATH"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def make(args: Any) -> dict[str, Any]:
    """Check everything about the run and return its plan; creates nothing."""
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
# the mounts asked for


def _parse_volume(text: str) -> Volume:
    """``-v`` goes through the active step 5, so that the learner's parser is the one used."""
    try:
        volume = learner.call(5, "parse_volume_spec", text)
    except learner.StepFailed as exc:
        if isinstance(exc.error, VolumeSpecError):
            raise RunError(_naming(str(exc.error), "-v", text)) from None
        learner_bug(exc, f"parse_volume_spec({text!r})")
    if not isinstance(volume, Volume):
        raise RunError(say("container.not_a_volume", spec=text, got=volume, readme=readme(5)))
    return volume


def _naming(message: str, flag: str, text: str) -> str:
    """Docker's wording, plus the spec when the wording does not show it (``invalid mode: x``)."""
    return message if f"'{text}'" in message else \
        say("container.in_flag", message=message, flag=flag, spec=text)


# ---------------------------------------------------------------------------------------------
# the image, and the mounts against it


def _image(ref: str) -> tuple[str, str, dict[str, Any]]:
    """(name, rootfs, config) of image ``ref``: a name under ``<state>/images``, or the path of a
    root filesystem directory (``./rootfs``, ``/srv/rootfs``)."""
    if ref.startswith(("/", "./", "../")):
        if not os.path.isdir(ref):
            raise RunError(say("container.rootfs_not_found", path=ref))
        return ref, os.path.realpath(ref), {}
    lower = state.image_rootfs(ref)
    if "/" in ref or not ref or not os.path.isdir(lower):
        how = (f"./container image build {ref}" if ref in ("busybox", "debian", "ubuntu")
               else f"./container image import {ref} FILE.tar")
        raise RunError(say("container.build_image", docker=f"Unable to find image '{ref}' "
                           "locally", how=how))
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
    raise RunError(say("container.no_command"))


def _is_dir_source(m: Volume | Tmpfs) -> bool:
    if m.kind != "bind":
        return True  # named and anonymous volumes and tmpfs are directories
    try:
        return stat.S_ISDIR(os.stat(m.source).st_mode)
    except FileNotFoundError:
        return True  # -v creates a missing source as a directory
    except OSError as exc:
        raise RunError(say("container.bad_bind_source", source=m.source,
                           error=exc.strerror)) from None


def _check_against_image(lower: str, mounts: list[tuple[str, Volume | Tmpfs]]) -> None:
    """Refuse what would fail half-way through the start: a file over a directory of the image or
    the reverse, a target below a file mount, a target that the image's symlinks lead into /proc."""
    files: dict[str, str] = {}
    for text, m in mounts:
        target = clean_target(m.target)
        try:
            host = rootfs.resolve_in_root(lower, target)
        except OSError as exc:
            raise RunError(say("container.cannot_resolve", target=target, error=exc.strerror,
                               spec=text)) from None
        inner = "/" + os.path.relpath(host, lower).removeprefix(".").lstrip("/")
        if inner == "/":
            raise RunError(say("container.leads_to_root", target=target, spec=text))
        if inner == "/proc" or inner.startswith("/proc/"):
            raise RunError(say("container.leads_to_proc", target=target, spec=text))
        is_dir = _is_dir_source(m)
        try:
            st = os.lstat(host)
        except FileNotFoundError:
            pass
        except NotADirectoryError:
            raise RunError(say("container.parent_not_dir", target=target, spec=text)) from None
        else:
            if is_dir != stat.S_ISDIR(st.st_mode):
                raise RunError(say("container.dir_on_file" if is_dir else "container.file_on_dir",
                                   source=m.source or m.kind, target=target, spec=text))
        if not is_dir:
            files[target] = m.source
    for text, m in mounts:
        target = clean_target(m.target)
        parent = os.path.dirname(target)
        while parent != "/":
            if parent in files:
                raise RunError(say("container.below_file_mount", target=target, parent=parent,
                                   source=files[parent], spec=text))
            parent = os.path.dirname(parent)


# ---------------------------------------------------------------------------------------------
# the accepted plan gets its container


def place(plan: dict[str, Any], cid: str, cdir: str) -> None:
    """Complete ``plan`` for container ``cid`` whose directory is ``cdir`` (a real path: the
    keeper compares it with the kernel's mount table, which has no symlinks)."""
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
                merged=os.path.join(cdir, "fs", "rootfs"), ordered=ordered, volumes=volumes,
                tmpfs=tmpfs, anonymous=anonymous, tty=tty, env=env, hostname=hostname)


# ---------------------------------------------------------------------------------------------
# the plan on the wire, runtime -> keeper

# What the keeper needs of the plan, besides the mounts ("ordered").
_WIRE = ("cid", "lower", "layer", "merged", "tty", "hostname", "command", "env")


def to_json(plan: dict[str, Any]) -> bytes:
    """What the keeper needs, as one line of JSON. Each mount is ``{"tmpfs": [target, read_only,
    size, mode]}`` or ``{"volume": [the Volume's fields]}``: lists, which cost a thousand
    volumes less to write than objects."""
    wire: dict[str, Any] = {key: plan[key] for key in _WIRE}
    wire["ordered"] = [{"tmpfs": [m.target, m.read_only, m.size, m.mode]} if isinstance(m, Tmpfs)
                       else {"volume": list(m)} for m in plan["ordered"]]
    # The runtime's own encoder: the json module would cost its import on every run.
    return state.encode(wire, None).encode()


def from_json(data: bytes) -> dict[str, Any]:
    """The keeper's side of ``to_json``."""
    plan = _read_json(data.decode())
    plan["ordered"] = [Tmpfs(*m["tmpfs"]) if "tmpfs" in m else Volume(*m["volume"])
                       for m in plan["ordered"]]
    return plan


class _Scanner:
    """What the C scanner behind ``json.loads`` reads from its decoder: plain JSON, no NaN."""

    strict, object_hook, object_pairs_hook, parse_float, parse_int = True, None, None, float, int

    @staticmethod
    def parse_constant(name: str) -> None:
        raise ValueError(f"the plan is not plain JSON: {name}")


def _read_json(text: str) -> Any:
    """``json.loads(text)`` through the C scanner it uses: importing ``json`` itself compiles
    regular expressions, a millisecond of every run (as ``_signal`` is used for ``signal``)."""
    try:
        from _json import make_scanner
    except ImportError:  # pragma: no cover - a Python without the C accelerator
        import json

        return json.loads(text)
    try:
        value, end = make_scanner(_Scanner())(text, 0)
    except StopIteration as exc:
        raise ValueError(f"the plan is not complete JSON (at {exc.value})") from None
    if text[end:].strip():
        raise ValueError(f"the plan has extra data after its JSON (at {end})")
    return value
