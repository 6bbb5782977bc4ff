"""Step 4: wire the volumes of a container into its root filesystem (reference solution)."""

import contextlib
import errno
import os
import posixpath

from mountlab.errors import VolumeError
from mountlab.impl import step
from mountlab.volume import Volume, volume_data_dir

# The kernel gives up after 40 symlinks in one path lookup (ELOOP): follow at least as many.
MAX_SYMLINKS = 40


def resolve_target(rootfs: str, container_path: str) -> str:
    """The host path of ``container_path`` inside ``rootfs``, resolved as if ``rootfs`` were ``/``.

    Neither ``..`` nor a symlink of the image leads outside ``rootfs``. The container's ``/`` and
    targets in ``/proc`` raise VolumeError, and so does a symlink loop.
    """
    resolved: list[str] = []  # the components below rootfs, free of symlinks and ".."
    todo = container_path.split("/")[::-1]  # a stack: the next component is last
    links = 0
    while todo:
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            # In the container, "/.." is "/": never climb above the root.
            if resolved:
                resolved.pop()
            continue
        path = os.path.join(rootfs, *resolved, part)
        if not os.path.islink(path):
            resolved.append(part)
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise VolumeError(errno.ELOOP, "too many levels of symbolic links in the image",
                              container_path)
        # Never let the host resolve the link: /etc means rootfs/etc, a relative link goes on
        # from the directory that holds it (which ``resolved`` is at this point).
        target = os.readlink(path)
        if target.startswith("/"):
            resolved = []
        todo += target.split("/")[::-1]
    if not resolved:
        raise VolumeError(errno.EINVAL, "cannot mount a volume over the container's /",
                          container_path)
    if resolved[0] == "proc":
        raise VolumeError(errno.EINVAL, "refusing to mount a volume in the container's /proc",
                          container_path)
    return os.path.join(rootfs, *resolved)


def setup_container_volumes(container_id: str, rootfs: str, volumes: list[Volume]) -> list[str]:
    """Mount every volume inside ``rootfs``, parents before children; return the host paths
    mounted, in mount order.

    A named volume's data lives in ``volume_data_dir(name)``; an anonymous volume (source None) is
    named ``f"{container_id}-{index}"``, index being its position in ``volumes``. When a volume
    fails, what this call mounted is unmounted in reverse, what it created is removed, and the
    error is raised again.
    """
    # Fewer components first: a parent must be in place before a child is mounted on it. sorted()
    # is stable, so volumes of equal depth keep their order.
    order = sorted(range(len(volumes)),
                   key=lambda i: posixpath.normpath(volumes[i].target).count("/"))
    mounted: list[str] = []
    undo = []  # (function, path) to call in reverse order if a volume fails
    try:
        for index in order:
            volume = volumes[index]
            # Resolve only now: a parent volume mounted just before may hold this target's path.
            target = resolve_target(rootfs, volume.target)
            undo += [(os.rmdir, path) for path in _missing(target)]
            source = volume.source
            if not volume.is_bind:  # a named or anonymous volume
                source = volume_data_dir(source or f"{container_id}-{index}")
                undo += [(os.rmdir, path) for path in _missing(source)]
                step(1).setup_volume(source, target)
            step(2).mount_volume(source, target, read_only=volume.read_only)
            undo.append((step(3).unmount_volume, target))
            mounted.append(target)
    except BaseException:  # Ctrl-C too: never leave half a container mounted
        for function, path in reversed(undo):
            # Keep undoing: the caller needs the original error, not one from the clean-up.
            # rmdir removes only empty directories, so no data can be lost here.
            with contextlib.suppress(OSError):
                function(path)
        raise
    return mounted


def teardown_container_volumes(container_id: str, mounted: list[str]) -> None:
    """Unmount ``mounted`` (as ``setup_container_volumes`` returned it) in reverse order.

    A failure does not stop the others; at the end one VolumeError lists every failure.
    """
    failures = []
    for target in reversed(mounted):  # children before their parents
        try:
            step(3).unmount_volume(target)
        except Exception as exc:
            failures.append(f"{target}: {exc}")
    if failures:
        raise VolumeError(f"container {container_id}: {len(failures)} volume(s) could not be "
                          "unmounted: " + "; ".join(failures))


def _missing(path: str) -> list[str]:
    """``path`` and its parents that do not exist yet, outermost first."""
    missing = []
    while not os.path.lexists(path):
        missing.append(path)
        path = os.path.dirname(path)
    return missing[::-1]
