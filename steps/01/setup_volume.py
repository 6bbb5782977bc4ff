"""Step 1: create the directories of a volume. Read README.md beside this file first."""

import errno  # noqa: F401  (you will need errno.ENOTDIR)
import os  # noqa: F401


def setup_volume(volume_path: str, container_path: str) -> None:
    """Create ``volume_path`` (the host directory) and ``container_path`` (the mount point).

    Missing parents are created too. Everything created is mode 0755, whatever the umask; what
    already exists is left as it is. A path that exists but is not a directory raises
    NotADirectoryError, and then nothing is created.
    """
    # TODO 1: check both paths first: if one (or one of its parents) exists and is not a
    #         directory, raise NotADirectoryError(errno.ENOTDIR, "<what to do>", path).
    # TODO 2: create each missing directory, parents first.
    # TODO 3: give each directory you created the mode 0o755 (the umask must not matter),
    #         and leave the mode of existing directories alone.
    raise NotImplementedError("setup_volume: fill in the TODOs")
