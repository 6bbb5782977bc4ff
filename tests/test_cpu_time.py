"""tests/cpu_time.py: a command's CPU seconds, its children's included."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.cpu_time import CpuGroup

BURN = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass\n"


def test_a_commands_cpu_time_counts_its_children():
    group = CpuGroup(f"mountlab-test-{os.getpid()}")
    # A parent that waits, and a child that burns half a second of CPU.
    argv = [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, "
                                  f"'-c', {BURN!r}])"]
    subprocess.run(group.wrap(argv), check=True, timeout=60)
    seconds = group.seconds()
    group.close()
    if group.dir is None:  # no cgroup here (not root, or none mounted): runs as it is
        assert group.wrap(argv) == argv and seconds is None
    else:
        assert seconds is not None and 0.5 <= seconds < 5, seconds
        assert not group.dir.exists()


def test_kill_ends_what_left_the_commands_session():
    group = CpuGroup(f"mountlab-test-kill-{os.getpid()}")
    if group.dir is None:
        return  # no cgroup here: nothing to end
    # The command starts a sleeper in a session of its own and ends: the sleeper stays.
    argv = [sys.executable, "-c", "import subprocess; subprocess.Popen(['sleep', '300'], "
                                  "start_new_session=True)"]
    subprocess.run(group.wrap(argv), check=True, timeout=60)
    left = (group.dir / "cgroup.procs").read_text().split()
    assert len(left) == 1, left
    group.kill()
    assert (group.dir / "cgroup.procs").read_text().split() == []
    group.close()
    assert not group.dir.exists()
