"""Submissions that attack the grader on purpose, one folder each (``NAME/steps/NN/module.py``,
laid out like a learner's copy), graded by ``tests/grading/test_attacks.py``.

``build(name, dest, targets)`` writes a gradable copy of attack ``name`` into ``dest``: each step
folder also gets ``attack_kit.py`` (the helpers the attacks share, from ``_common/``) and
``attack_targets.py`` (``TARGETS``: the paths the test wants attacked: canaries, the kit, the
grader's outputs; an attacker is assumed to know them). A line ``#@ reference`` in an attack's
module is replaced by the reference solution of that step: the attack wrapped around correct code.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mountlab import registry

HERE = Path(__file__).parent
KIT = HERE / "_common" / "attack_kit.py"
REFERENCE_LINE = "#@ reference"


def names() -> list[str]:
    return sorted(p.name for p in HERE.iterdir()
                  if p.is_dir() and not p.name.startswith(("_", ".")) and (p / "steps").is_dir())


def wraps_reference(name: str) -> set[int]:
    """The steps where attack ``name`` is wrapped around the reference solution."""
    return {int(m.parent.name) for m in (HERE / name).glob("steps/*/*.py")
            if REFERENCE_LINE in m.read_text()}


def build(name: str, dest: Path, targets: dict) -> Path:
    source = HERE / name
    for module in sorted(source.glob("steps/*/*.py")):
        out = dest / module.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        text = module.read_text()
        if REFERENCE_LINE in text:
            s = registry.get(int(module.parent.name))
            reference = (registry.KIT_ROOT / "solutions" / s.folder / s.filename).read_text()
            text = text.replace(REFERENCE_LINE, reference)
        out.write_text(text)
        shutil.copyfile(KIT, out.parent / KIT.name)
        (out.parent / "attack_targets.py").write_text(f"TARGETS = {targets!r}\n")
    return dest
