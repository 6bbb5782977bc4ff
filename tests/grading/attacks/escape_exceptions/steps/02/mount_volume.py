"""Attack: exit instead of failing: SystemExit(0) from the function."""


def mount_volume(source, target, *, read_only=False):
    raise SystemExit(0)
