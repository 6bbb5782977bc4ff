"""Attack: interrupt instead of failing: KeyboardInterrupt from the function (as if the grader
had been stopped by ^C)."""


def unmount_volume(target, *, timeout=2.5, lazy=False):
    raise KeyboardInterrupt
