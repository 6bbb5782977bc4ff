"""Attack: signals and ptrace aimed at the check's own processes (step 3): the check keeps a
mount busy with a process it started; kill every process in sight, and ptrace them, instead of
waiting for them."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attack_kit  # noqa: E402


def unmount_volume(target, *, timeout=2.5, lazy=False):
    attack_kit.strike_the_grader()
