"""Attack: a 100 MB exception message."""


def mount_volume(source, target, *, read_only=False):
    raise ValueError("m" * (100 << 20))
