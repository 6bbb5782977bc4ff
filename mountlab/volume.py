"""``Volume``: one mount a container asks for, as ``-v`` or ``--mount`` describe it."""

from __future__ import annotations

import os
from collections import namedtuple

PROPAGATIONS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")

# A named tuple rather than a dataclass: it is as readable, immutable too, and imports in no time
# (./container starts with it).
_Fields = namedtuple("Volume", ["source", "target", "read_only", "kind", "propagation", "modes"],
                     defaults=[False, "bind", "", ""])


class Volume(_Fields):
    """One mount a container asks for: a bind mount (``source`` is an absolute host path) or a
    volume (``source`` is its name, ``None`` for an anonymous volume), at ``target`` inside the
    container.

    ``Volume(source, target, read_only=False, kind="bind", propagation="", modes="")``: ``kind`` is
    ``"bind"`` or ``"volume"``; ``propagation`` "" means the runtime's default, rprivate; ``modes``
    is the raw MODES field of the spec, e.g. ``"ro,z"``.
    """

    __slots__ = ()

    @property
    def is_bind(self) -> bool:
        return self.kind == "bind"


def state_dir() -> str:
    """Where the runtime keeps its data: ``$MOUNTLAB_STATE``, else ``/var/lib/mountlab`` as root,
    else ``$XDG_DATA_HOME/mountlab``."""
    if os.environ.get("MOUNTLAB_STATE"):
        return os.environ["MOUNTLAB_STATE"]
    if os.geteuid() == 0:
        return "/var/lib/mountlab"
    data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(data, "mountlab")


def volume_data_dir(name: str) -> str:
    """The host directory holding the data of the named volume ``name``."""
    return os.path.join(state_dir(), "volumes", name, "_data")
