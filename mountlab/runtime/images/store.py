"""The image store: where images live, their ``image.json``, and how one is published.

An image is a directory ``<state>/images/<name>/`` holding ``rootfs/`` (what a container sees as
``/``, never written by a run: it is the lower layer of the container's overlayfs) and
``image.json`` (Name, Source, Created, Size, Cmd).

Every image is assembled in a hidden temporary directory next to its final place (``staging``)
and renamed into place at the end (``publish``), so that an interrupted build or import never
leaves half an image behind (the leftovers of a killed one are removed by the next build).
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import re
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mountlab.runtime import state

__all__ = [
    "ImageError", "NAME_RE", "validate_name", "image_dir", "image_config", "list_images",
    "timestamp", "mkdir_exact", "remove_tree", "staging", "write_config", "publish",
    "refuse_existing", "refuse_in_use", "remove_image",
]

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]*\Z")
_STAGING_RE = re.compile(r"\.(?:tmp|old)-.*-(\d+)-[a-z0-9_]+\Z")


class ImageError(RuntimeError):
    """An image command failed; the message is one line naming the thing and what to do."""


# --------------------------------------------------------------------------------------------
# names, paths, metadata


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid image name (``[a-z0-9][a-z0-9_.-]*``), else raise."""
    if not NAME_RE.match(name or "") or len(name) > 128:
        raise ImageError(f"invalid image name {name!r}: use lowercase letters, digits and '_.-', "
                         "starting with a letter or digit")
    return name


def image_dir(name: str) -> str:
    """``<state>/images/<name>``: the image's rootfs and its ``image.json``."""
    return os.path.dirname(state.image_rootfs(name))


def image_config(name: str) -> dict[str, Any] | None:
    """The ``image.json`` of image ``name`` (None when the image does not exist)."""
    if not os.path.isdir(state.image_rootfs(name)):
        return None
    try:
        with open(os.path.join(image_dir(name), "image.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        config = {}  # an image made by hand: still usable
    config.setdefault("Name", name)
    config.setdefault("Rootfs", state.image_rootfs(name))
    return config


def list_images() -> list[dict[str, Any]]:
    """Every image's ``image.json``, sorted by name."""
    try:
        names = sorted(os.listdir(state.images_dir()))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if name.startswith(".") or not NAME_RE.match(name):
            continue  # staging directories and build logs
        config = image_config(name)
        if config is not None:
            found.append(config)
    return found


def timestamp() -> str:
    """Now, as ``image.json``'s Created shows it (local time with its offset)."""
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _tree_size(path: str) -> int:
    """Bytes used under ``path`` (hard links counted once, symlinks not followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for top, dirs, files in os.walk(path):
        for entry in dirs + files:
            try:
                st = os.lstat(os.path.join(top, entry))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def mkdir_exact(path: str, mode: int = 0o755) -> None:
    """mkdir with exactly ``mode``, whatever the umask."""
    os.mkdir(path)
    os.chmod(path, mode)


# --------------------------------------------------------------------------------------------
# staging: build aside, then rename into place


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_tree(path: str) -> None:
    """Delete ``path`` and everything under it, refusing if anything is mounted there.

    ``shutil.rmtree`` crosses mount points and would delete a bind-mounted host directory's
    files (moby #32327); symlinks, which are data inside a rootfs, are never followed.
    """
    from mountlab import fsutil

    try:
        fsutil.remove_tree(path)
    except fsutil.MountedError as exc:
        busy = exc.mounts[0]
        raise ImageError(f"{busy} is mounted under {path}: unmount it (umount -R {busy}), "
                         "then retry") from None


def _clean_stale(images: str) -> None:
    """Remove the staging directories of builds whose process is gone (killed, power cut)."""
    try:
        entries = os.listdir(images)
    except FileNotFoundError:
        return
    for entry in entries:
        match = _STAGING_RE.match(entry)
        if match and not _pid_alive(int(match.group(1))):
            try:
                remove_tree(os.path.join(images, entry))
            except (OSError, ImageError):
                pass  # still mounted or busy: the next build tries again


@contextmanager
def staging(name: str) -> Iterator[str]:
    """A fresh hidden directory next to the image's final place; removed on any failure."""
    images = state.images_dir()
    os.makedirs(images, mode=0o755, exist_ok=True)
    _clean_stale(images)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{name}-{os.getpid()}-", dir=images)
    previous = None
    if threading.current_thread() is threading.main_thread():
        # `kill PID` (SIGTERM) cleans up like Ctrl-C instead of leaving the staging directory.
        previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield tmp
    except BaseException:
        remove_tree(tmp)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminated(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def write_config(tmp: str, config: dict[str, Any]) -> None:
    """Write the staged image's ``image.json``, with the size of its rootfs."""
    config["Size"] = _tree_size(os.path.join(tmp, "rootfs"))
    with open(os.path.join(tmp, "image.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


def publish(tmp: str, name: str, *, force: bool) -> bool:
    """Rename the staged ``tmp`` to the image's place. False when another process published the
    same image first (and not ``force``): ``tmp`` is then discarded."""
    final = image_dir(name)
    os.chmod(tmp, 0o755)  # mkdtemp made it 0700
    old = None
    if force and os.path.lexists(final):
        old = tempfile.mkdtemp(prefix=f".old-{name}-{os.getpid()}-", dir=state.images_dir())
        os.rename(final, os.path.join(old, "image"))
    try:
        os.rename(tmp, final)  # atomic; fails when final is a non-empty directory
    except OSError as exc:
        if old is not None:  # put the previous image back rather than lose both
            os.rename(os.path.join(old, "image"), final)
            remove_tree(old)
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        remove_tree(tmp)
        return False
    if old is not None:
        remove_tree(old)
    return True


def refuse_existing(name: str, force: bool) -> None:
    """Refuse to build over an existing image unless ``force``, and over one in use always."""
    if not force and os.path.lexists(image_dir(name)):
        raise ImageError(f"image {name} already exists: remove it first (./container image rm "
                         f"{name}) or rebuild with --force")
    if force:
        refuse_in_use(name, "replace")


def refuse_in_use(name: str, verb: str) -> None:
    """Refuse to ``verb`` (remove, replace) an image that a running container starts from."""
    rootfs = state.image_rootfs(name)
    users = [c for c in state.list_containers()
             if c.get("image") in (name, rootfs)
             or c.get("rootfs_lower") in (rootfs, os.path.realpath(rootfs))]
    if users:
        who = ", ".join(f"{c.get('id', '?')[:12]} ({c.get('name', '')})" for c in users)
        raise ImageError(f"cannot {verb} image {name}: it is in use by running container {who}; "
                         "stop it first")


# --------------------------------------------------------------------------------------------
# removal


def remove_image(name: str) -> None:
    """Remove image ``name``; refuse while a running container uses it."""
    validate_name(name)
    final = image_dir(name)
    if not os.path.isdir(final) or os.path.islink(final):
        raise ImageError(f"no such image: {name} (see ./container image ls)")
    refuse_in_use(name, "remove")
    # Rename first: the image disappears at once; a failed delete leaves only a hidden leftover
    # that the next build cleans up.
    os.makedirs(state.images_dir(), exist_ok=True)
    trash = tempfile.mkdtemp(prefix=f".old-{name}-{os.getpid()}-", dir=state.images_dir())
    os.rename(final, os.path.join(trash, "image"))
    remove_tree(trash)

