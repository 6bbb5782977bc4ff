"""Attack: patch what the checks use (step 2). The kit's syscalls and mountinfo helpers are
replaced so that anything asked looks mounted and read-only; the function mounts nothing."""

import errno
import os

from mountlab import mountinfo, syscalls

mountinfo.is_mountpoint = lambda *a, **k: True
mountinfo.read = lambda *a, **k: []
syscalls.mount = lambda *a, **k: None
_real_open = os.open


def _erofs(path, flags, *a, **k):
    if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
        raise OSError(errno.EROFS, "Read-only file system", path)
    return _real_open(path, flags, *a, **k)


os.open = _erofs



def mount_volume(source, target, *, read_only=False):
    return None
