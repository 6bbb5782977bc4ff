"""The severity rule of docs/grading.md, as the tests check it on a buggy variant's step."""

from __future__ import annotations

import shutil
from pathlib import Path

from mountlab import registry
from tests.bugs import Bug


def broken(level: str, points: int, max_points: int) -> str:
    """Why ``points`` out of ``max_points`` breaks the rule for a bug of severity ``level``
    ("" when it holds): a critical bug leaves at most half the step, a minor one at least 80 %
    and less than 100 %, a major one less than 100 %."""
    if points >= max_points:
        return f"kept all {max_points} points"
    if level == "critical" and 2 * points > max_points:
        return f"a critical bug kept {points}/{max_points}, more than half"
    if level == "minor" and 5 * points < 4 * max_points:
        return f"a minor bug left only {points}/{max_points}, less than 80 %"
    return ""


def with_reference(bug: Bug, folder: Path) -> Path:
    """The bug's step beside the reference solutions of every other step, as a learner who has
    done all the rest hands it in (the end-to-end checks then use correct earlier steps)."""
    for s in registry.steps():
        dest = folder / s.folder / s.filename
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(registry.KIT_ROOT / "solutions" / s.folder / s.filename, dest)
    return bug.write(folder)
