"""Attack: hang forever: a busy loop, a sleep, or a read that never returns (chosen by the path),
with SIGTERM and SIGINT ignored."""

import os
import signal
import time
import zlib


def setup_volume(volume_path, container_path):
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, signal.SIG_IGN)
    kind = zlib.crc32(volume_path.encode(errors="replace")) % 3
    if kind == 0:
        while True:
            pass
    if kind == 1:
        while True:
            time.sleep(3600)
    r, w = os.pipe()
    os.read(r, 1)
