"""Step 1: create the directories of a volume (reference solution)."""

import errno
import os


def setup_volume(volume_path: str, container_path: str) -> None:
    """Create ``volume_path`` (the host directory) and ``container_path`` (the mount point).

    Missing parents are created too. Everything created is mode 0755, whatever the umask; what
    already exists is left as it is. A path that exists but is not a directory raises
    NotADirectoryError, and then nothing is created.
    """
    # Check both paths before creating anything, so that a bad second path leaves no trace.
    plans = [_missing_directories(volume_path), _missing_directories(container_path)]
    for missing in plans:
        for directory in missing:
            if not os.path.isdir(directory):  # the two paths may share parents
                os.mkdir(directory)
                # mkdir's mode is filtered by the umask: chmod is not.
                os.chmod(directory, 0o755)


def _missing_directories(path: str) -> list[str]:
    """The directories to create for ``path``, outermost first.

    Raises NotADirectoryError when ``path`` or one of its parents exists and is not a directory.
    """
    missing = []
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        if os.path.lexists(current):
            raise NotADirectoryError(
                errno.ENOTDIR, "exists and is not a directory: remove it or choose another path",
                current)
        missing.append(current)
        current = os.path.dirname(current)
    return missing[::-1]
