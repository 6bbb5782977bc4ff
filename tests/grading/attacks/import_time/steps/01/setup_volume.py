"""Attack: everything from the module's top level, around correct code. Before the reference's
own code is defined, the import forges frames, writes outside scratch, overwrites the grader's
outputs, prints every secret it can read and leaves a daemon behind. The same code without these
lines earns every point of step 1: with them it must earn none more, and the daemon costs them."""

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.abspath(__file__)))
import attack_kit  # noqa: E402

attack_kit.spray_fds()
print(attack_kit.vandalise())
print(attack_kit.overwrite_outputs())
print(attack_kit.loot())
attack_kit.daemon(attack_kit.TARGETS.get("sleep_marker", "86400"))

#@ reference
