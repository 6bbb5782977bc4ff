"""Attack: processes that outlive the check. A plain child never waited for, a setsid child, and
a double-forked daemon (at import time and in the call), each running ``sleep`` with a number the
test then looks for among the host's processes."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attack_kit  # noqa: E402

MARK = attack_kit.TARGETS.get("sleep_marker", "86400")
attack_kit.daemon(MARK)


def setup_volume(volume_path, container_path):
    if os.fork() == 0:
        os.execv("/bin/sleep", ["sleep", MARK])
    if os.fork() == 0:
        os.setsid()
        os.execv("/bin/sleep", ["sleep", MARK])
    attack_kit.daemon(MARK)
