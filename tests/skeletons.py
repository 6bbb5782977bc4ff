"""The step skeletons as the kit ships them, whatever the learner has written in ``steps/``.

The kit's own tests grade the skeletons (every check fails on them) and copy the kit to play a
learner: both must start from the shipped skeletons, never from a learner's half-done files in
this checkout. git holds them: the newest version of each file in which every function of the
step only raises NotImplementedError (the same rule as ``./workshop reset``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from mountlab import registry
from mountlab.workshop import reset


@functools.cache
def text(number: int) -> str:
    """Step ``number``'s skeleton: from git, or this checkout's file when git has none and the
    file is still a skeleton (a copy of the kit that is not a git clone)."""
    step = registry.get(number)
    try:
        return reset.skeleton(step)[0]
    except reset.NoSkeleton as exc:
        working = registry.KIT_ROOT / "steps" / step.folder / step.filename
        if working.is_file() and reset.is_skeleton(working.read_text(), step):
            return working.read_text()
        pytest.fail(f"no skeleton of step {number} to test: {exc}")


def write_folder(dest: Path) -> Path:
    """``dest/01/setup_volume.py`` ... ``dest/05/volume_spec.py``: a folder ``--impl`` takes."""
    for step in registry.steps():
        target = dest / step.folder / step.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text(step.number))
    return dest


def restore(kit_root: Path) -> None:
    """Put the skeletons into a copy of the kit (its ``steps/NN/<module>.py``)."""
    write_folder(kit_root / "steps")
