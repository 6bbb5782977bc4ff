"""Attack: processes that outlive the check, around correct code. A plain child never waited for,
a setsid child, and a double-forked daemon (at import time and in each call), each running
``sleep`` with a number the test then looks for among the host's processes. The reference's own
work is done, so the only reason for a check to fail is what was left running."""

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.abspath(__file__)))
import attack_kit  # noqa: E402

MARK = attack_kit.TARGETS.get("sleep_marker", "86400")
attack_kit.daemon(MARK)

#@ reference

_reference = setup_volume  # noqa: F821 - defined by the reference above


def setup_volume(volume_path, container_path):  # noqa: F811
    _reference(volume_path, container_path)
    if _os.fork() == 0:
        _os.execv("/bin/sleep", ["sleep", MARK])
    if _os.fork() == 0:
        _os.setsid()
        _os.execv("/bin/sleep", ["sleep", MARK])
    attack_kit.daemon(MARK)
