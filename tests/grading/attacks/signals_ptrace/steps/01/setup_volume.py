"""Attack: signals and ptrace aimed at the grader, around correct code. kill(-1), killpg(0), a
kill of every pid it can name (the ones /proc lists and every number the kernel may hand out:
below its pid_max, at most 100000; the test's own pid included), pidfd signals, PTRACE_ATTACH /
PTRACE_SEIZE on each; then the reference's work. If nothing of the grader was reached, every
check passes as it does for the reference."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attack_kit  # noqa: E402

#@ reference

_reference = setup_volume  # noqa: F821 - defined by the reference above


def setup_volume(volume_path, container_path):  # noqa: F811
    print("reached:", attack_kit.strike_the_grader()[:50])
    _reference(volume_path, container_path)
