"""Run a command as another user where that user can reach the kit.

Root on a fresh machine clones the kit into its home, ``/root``, mode 0700: an unprivileged user
cannot even walk to it. The tests that drop privileges then run their command in a private mount
namespace in which that folder is an empty tmpfs (mode 0755) holding only the kit, bound back at
the same path, so that every absolute path (the venv's, the editable install's) still works. The
namespace, and so every mount, ends with the command; nothing is changed on the host.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mountlab import registry

# $1 the kit, $2 the folder that blocks others; then the command.
_SCRIPT = (
    'set -e; kit=$1; blocked=$2; shift 2; keep=$(mktemp -d); '
    'mount --bind "$kit" "$keep"; '
    'mount -t tmpfs -o mode=0755 mountlab-reachable "$blocked"; '
    'mkdir -p "$kit"; mount --bind "$keep" "$kit"; umount "$keep"; rmdir "$keep"; '
    'exec "$@"')


def blocking_folder(path: Path | None = None) -> Path | None:
    """The highest folder above ``path`` (default: the kit) that others may not pass through."""
    path = Path(path or registry.KIT_ROOT).resolve()
    blocked = None
    for folder in reversed(path.parents):
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            blocked = folder
            break
    return blocked


def command(argv: list[str], kit: Path | None = None) -> list[str]:
    """``argv``, wrapped so that the kit is reachable by anyone when a folder above it is not."""
    kit = Path(kit or registry.KIT_ROOT).resolve()
    blocked = blocking_folder(kit)
    if blocked is None:
        return argv
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", _SCRIPT, "sh", str(kit),
            str(blocked), *argv]
