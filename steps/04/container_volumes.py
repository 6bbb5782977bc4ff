"""Step 4: wire the volumes of a container into its root filesystem. Read README.md beside this
file first."""

import contextlib  # noqa: F401  (contextlib.suppress helps in a rollback)
import errno  # noqa: F401  (errno.ELOOP, errno.EINVAL)
import os  # noqa: F401
import posixpath  # noqa: F401  (posixpath.normpath cleans a container path)

from mountlab.errors import VolumeError  # noqa: F401
from mountlab.impl import step  # noqa: F401  (step(1), step(2), step(3): your earlier steps)
from mountlab.volume import Volume, volume_data_dir  # noqa: F401


def resolve_target(rootfs: str, container_path: str) -> str:
    """The host path of ``container_path`` inside ``rootfs``, resolved as if ``rootfs`` were ``/``.

    Neither ``..`` nor a symlink of the image leads outside ``rootfs``. The container's ``/`` and
    targets in ``/proc`` raise VolumeError, and so does a symlink loop.
    """
    # TODO 1: walk container_path one component at a time, from rootfs: skip "" and ".", and let
    #         ".." go up one level but never above rootfs.
    # TODO 2: when a component is a symlink (os.path.islink), read it with os.readlink and go on
    #         with its target: from rootfs if it is absolute, from the current directory if not.
    #         Count the links: past 40, raise VolumeError(errno.ELOOP, "<why>", container_path).
    # TODO 3: refuse the container's / and anything in /proc: VolumeError naming container_path.
    raise NotImplementedError("resolve_target: fill in the TODOs")


def setup_container_volumes(container_id: str, rootfs: str, volumes: list[Volume]) -> list[str]:
    """Mount every volume inside ``rootfs``, parents before children; return the host paths
    mounted, in mount order.

    A named volume's data lives in ``volume_data_dir(name)``; an anonymous volume (source None) is
    named ``f"{container_id}-{index}"``, index being its position in ``volumes``. When a volume
    fails, what this call mounted is unmounted in reverse, what it created is removed, and the
    error is raised again.
    """
    # TODO 1: order the volumes by the depth of their target, parents first (keep equal depths in
    #         their order).
    # TODO 2: for each: resolve_target; for a volume of kind "volume", its host directory is
    #         volume_data_dir(name), created with step(1).setup_volume(host_dir, target); then
    #         step(2).mount_volume(source, target, read_only=volume.read_only).
    # TODO 3: note what you mount and the directories you create (they did not exist before).
    # TODO 4: if anything fails: unmount with step(3).unmount_volume in reverse order, rmdir what
    #         you created, then raise the original error again.
    raise NotImplementedError("setup_container_volumes: fill in the TODOs")


def teardown_container_volumes(container_id: str, mounted: list[str]) -> None:
    """Unmount ``mounted`` (as ``setup_container_volumes`` returned it) in reverse order.

    A failure does not stop the others; at the end one VolumeError lists every failure.
    """
    # TODO 1: step(3).unmount_volume each path, last mounted first.
    # TODO 2: catch each error and go on; at the end, raise one VolumeError naming every failed
    #         path and its error.
    raise NotImplementedError("teardown_container_volumes: fill in the TODOs")
