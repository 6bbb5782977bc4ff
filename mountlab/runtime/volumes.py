"""Named volumes for ``./container``: ``volume create|ls|inspect|rm|prune``.

A named volume is a directory ``<state>/volumes/NAME/`` whose ``_data/`` is what containers see
(``mountlab.volume.volume_data_dir``) and whose ``volume.json`` records when it was created. A
``run -v NAME:/dst`` may also create the directory itself (through step 1), without
``volume.json``: such a volume is just as valid, its creation time is then the directory's.

Removing a volume deletes data, so it is done with care: never while a running container uses it
(``state.volumes_in_use``), never when anything is mounted at or below its directory (``rmtree``
crosses mount points and would delete a bind-mounted host directory's files: moby #32327).
"""

from __future__ import annotations

import argparse
import datetime
import errno
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from mountlab.runtime import state
from mountlab.volume import volume_data_dir

__all__ = [
    "VolumeCommandError", "register", "validate_name", "create_volume", "list_volumes",
    "inspect_volume", "volume_users", "remove_volume", "prune_volumes",
]

# moby's volume name rule (also checked by step 5 for `-v NAME:/dst`).
NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")
_TRASH_RE = re.compile(r"\.(?:tmp|trash)-.*-(\d+)-[a-z0-9_]+\Z")


class VolumeCommandError(RuntimeError):
    """A volume command failed; the message is one line naming the volume and what to do."""


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid volume name, else raise with Docker's wording."""
    if not NAME_RE.match(name or ""):
        raise VolumeCommandError(
            f'"{name}" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed (and at least two characters)')
    return name


def _volume_dir(name: str) -> str:
    return os.path.dirname(volume_data_dir(name))


def _exists(name: str) -> bool:
    path = _volume_dir(name)
    return not os.path.islink(path) and os.path.isdir(os.path.join(path, "_data"))


def _timestamp(when: datetime.datetime) -> str:
    # Docker prints RFC 3339 with the daemon's offset; UTC as "Z" like Go's time.RFC3339.
    text = when.astimezone().isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def create_volume(name: str | None = None) -> str:
    """Create the named volume ``name`` (a random 64-hex name when None); return its name.

    Creating a volume that exists is not an error (Docker returns its name too). The volume is
    assembled aside and renamed into place, so it never exists half-made.
    """
    name = validate_name(name) if name is not None else os.urandom(32).hex()
    if _exists(name):
        return name
    root = state.volumes_dir()
    os.makedirs(root, mode=0o755, exist_ok=True)
    final = _volume_dir(name)
    if os.path.lexists(final):
        raise VolumeCommandError(f"{final} exists but is not a volume (no _data directory): "
                                 "move it away, then retry")
    tmp = tempfile.mkdtemp(prefix=f".tmp-{name[:40]}-{os.getpid()}-", dir=root)
    try:
        os.chmod(tmp, 0o755)
        os.mkdir(os.path.join(tmp, "_data"))
        os.chmod(os.path.join(tmp, "_data"), 0o755)  # whatever the umask, like -v host dirs
        with open(os.path.join(tmp, "volume.json"), "w", encoding="utf-8") as f:
            json.dump({"Name": name, "CreatedAt": _timestamp(datetime.datetime.now())}, f)
            f.write("\n")
        try:
            os.rename(tmp, final)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            # Created by someone else meanwhile (another `create`, a `run -v`): theirs stands.
            shutil.rmtree(tmp)
    except BaseException:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)  # our own fresh directory: nothing can be mounted in it yet
        raise
    return name


def list_volumes() -> list[str]:
    """The names of all volumes, sorted."""
    try:
        entries = os.listdir(state.volumes_dir())
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if NAME_RE.match(e) and _exists(e))


def inspect_volume(name: str) -> dict[str, Any]:
    """Docker's ``volume inspect`` record of ``name``."""
    validate_name(name)
    if not _exists(name):
        raise VolumeCommandError(f"get {name}: no such volume")
    path = _volume_dir(name)
    created = None
    try:
        with open(os.path.join(path, "volume.json"), encoding="utf-8") as f:
            created = json.load(f).get("CreatedAt")
    except (OSError, ValueError, AttributeError):
        pass
    if not isinstance(created, str):  # made by `run -v NAME:...`: the directory's own time
        created = _timestamp(datetime.datetime.fromtimestamp(os.stat(path).st_mtime))
    return {"CreatedAt": created, "Driver": "local", "Labels": None,
            "Mountpoint": volume_data_dir(name), "Name": name, "Options": None,
            "Scope": "local"}


def volume_users(name: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Volume name -> the running containers' records that use it (only ``name`` if given)."""
    users: dict[str, list[dict[str, Any]]] = {}
    for record in state.list_containers():
        for v in record.get("volumes", []):
            if v.get("kind") == "volume" and v.get("name") and name in (None, v["name"]):
                users.setdefault(v["name"], []).append(record)
    return users


def _describe(records: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r.get('id', '?')[:12]} ({r.get('name', '?')})" for r in records)


def _check_unmounted(name: str, path: str) -> None:
    from mountlab import mountinfo

    if os.path.islink(path):
        raise VolumeCommandError(f"remove {name}: {path} is a symlink; not deleting through it")
    for where in (path, os.path.join(path, "_data")):
        if os.path.isdir(where) and mountinfo.is_mountpoint(where):
            raise VolumeCommandError(f"remove {name}: {where} is a mount point; unmount it "
                                     f"first (umount {where})")
    below = mountinfo.mounts_under(path)
    if below:
        raise VolumeCommandError(f"remove {name}: {below[0].mountpoint} is mounted inside the "
                                 f"volume; unmount it first (umount {below[0].mountpoint})")


def _disk_usage(path: str) -> int:
    """Bytes of the files under ``path`` (Docker's "reclaimed space" counts data, not dirs)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for top, dirs, files in os.walk(path):
        for entry in dirs + files:
            try:
                st = os.lstat(os.path.join(top, entry))
            except OSError:
                continue
            if not stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def remove_volume(name: str, *, in_use: dict[str, list[dict[str, Any]]] | None = None) -> int:
    """Remove volume ``name`` and its data; return the bytes it held.

    Refused while a running container uses it ("volume is in use") and when anything is mounted
    at or below its directory. ``in_use`` (from ``volume_users()``) saves re-reading the state.
    """
    validate_name(name)
    if not _exists(name):
        raise VolumeCommandError(f"get {name}: no such volume")
    users = (volume_users(name) if in_use is None else in_use).get(name)
    if users:
        raise VolumeCommandError(f"remove {name}: volume is in use - [{_describe(users)}]: stop "
                                 "that container first")
    path = _volume_dir(name)
    _check_unmounted(name, path)
    size = _disk_usage(os.path.join(path, "_data"))
    # Rename first: the volume vanishes at once, and a delete that fails half-way leaves only a
    # hidden directory (cleaned by the next prune), never half a volume under its name.
    trash = tempfile.mkdtemp(prefix=f".trash-{name[:40]}-{os.getpid()}-",
                             dir=state.volumes_dir())
    os.rename(path, os.path.join(trash, name))
    _rmtree_checked(trash)
    return size


def _rmtree_checked(path: str) -> None:
    from mountlab import fsutil

    try:
        fsutil.remove_tree(path, missing_ok=False)
    except fsutil.MountedError:  # mounted between the check and the rename: keep it all
        raise VolumeCommandError(f"{path} has a mount below it; unmount it, then remove {path}") \
            from None


def _clean_trash() -> None:
    """Remove the leftovers of removals and creations whose process died half-way."""
    try:
        entries = os.listdir(state.volumes_dir())
    except FileNotFoundError:
        return
    for entry in entries:
        match = _TRASH_RE.match(entry)
        if not match:
            continue
        try:
            os.kill(int(match.group(1)), 0)
            continue  # still running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        try:
            _rmtree_checked(os.path.join(state.volumes_dir(), entry))
        except (OSError, VolumeCommandError):
            pass


def prune_volumes() -> tuple[list[str], int, list[str]]:
    """Remove every volume no running container uses.

    Returns (names removed, bytes reclaimed, errors): a volume that cannot go (something mounted
    in it) is reported and skipped, the others are still pruned.
    """
    _clean_trash()
    in_use = volume_users()
    removed, total, errors = [], 0, []
    for name in list_volumes():
        if name in in_use:
            continue
        try:
            total += remove_volume(name, in_use=in_use)
        except (VolumeCommandError, OSError) as exc:
            errors.append(str(exc))
            continue
        removed.append(name)
    return removed, total, errors


def _human(size: float) -> str:
    # Docker's units.HumanSize: decimal units, 4 significant digits.
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.4g}{unit}"
        size /= 1000
    return f"{size}B"


# --------------------------------------------------------------------------------------------
# command line


def _error(message: str) -> None:
    print(f"container: error: {message}", file=sys.stderr)


def _handler(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (VolumeCommandError, OSError) as exc:
            _error(str(exc))
            return 125
    return run


@_handler
def _cmd_create(args: argparse.Namespace) -> int:
    print(create_volume(args.name))
    return 0


@_handler
def _cmd_ls(args: argparse.Namespace) -> int:
    names = list_volumes()
    if args.quiet:
        for name in names:
            print(name)
        return 0
    print(f"{'DRIVER':<10}VOLUME NAME")
    for name in names:
        print(f"{'local':<10}{name}")
    return 0


@_handler
def _cmd_inspect(args: argparse.Namespace) -> int:
    found, status = [], 0
    for name in args.names:
        try:
            found.append(inspect_volume(name))
        except VolumeCommandError as exc:
            _error(str(exc))
            status = 125
    if found or status == 0:
        print(json.dumps(found, indent=4))
    return status


@_handler
def _cmd_rm(args: argparse.Namespace) -> int:
    status = 0
    in_use = volume_users()
    for name in args.names:
        try:
            remove_volume(name, in_use=in_use)
            print(name)
        except VolumeCommandError as exc:
            if args.force and "no such volume" in str(exc):
                continue
            _error(str(exc))
            status = 125
    return status


@_handler
def _cmd_prune(args: argparse.Namespace) -> int:
    if not args.force:
        sys.stderr.write("WARNING! This will remove all local volumes not used by at least one "
                         "running container.\nAre you sure you want to continue? [y/N] ")
        sys.stderr.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            print("volume prune cancelled: nothing removed", file=sys.stderr)
            return 0
    removed, total, errors = prune_volumes()
    for message in errors:
        _error(message)
    if removed:
        print("Deleted Volumes:")
        for name in removed:
            print(name)
        print()
    print(f"Total reclaimed space: {_human(total)}")
    return 125 if errors else 0


def register(subparsers: Any) -> None:
    """Add ``volume create|ls|inspect|rm|prune`` to ``./container``'s argparse subparsers."""
    volume = subparsers.add_parser("volume", help="create, list, inspect and remove named volumes",
                                   description="Named volumes live in <state>/volumes/NAME/_data "
                                               "and outlive the containers that use them.")
    sub = volume.add_subparsers(dest="volume_command", metavar="COMMAND", required=True)

    create = sub.add_parser("create", help="create a volume (a random name when none is given)")
    create.add_argument("name", nargs="?", metavar="NAME")
    create.set_defaults(func=_cmd_create)

    ls = sub.add_parser("ls", help="list volumes")
    ls.add_argument("-q", "--quiet", action="store_true", help="only the names")
    ls.set_defaults(func=_cmd_ls)

    inspect = sub.add_parser("inspect", help="show volumes as JSON (Name, Mountpoint, CreatedAt)")
    inspect.add_argument("names", nargs="+", metavar="NAME")
    inspect.set_defaults(func=_cmd_inspect)

    rm = sub.add_parser("rm", help="remove volumes and their data (refused while in use)")
    rm.add_argument("-f", "--force", action="store_true", help="no error for missing volumes")
    rm.add_argument("names", nargs="+", metavar="NAME")
    rm.set_defaults(func=_cmd_rm)

    prune = sub.add_parser("prune", help="remove every volume no running container uses")
    prune.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    prune.add_argument("-a", "--all", action="store_true",
                       help="accepted for Docker habits: named and anonymous volumes are pruned "
                            "alike")
    prune.set_defaults(func=_cmd_prune)
