"""A learner's work in progress, as it sits in ``steps/`` while they go: one step right, some
wrong, one not even valid Python, one that does not import. ``./workshop test`` must stay green
with it (the kit's own tests test the kit, not the learner)."""

from __future__ import annotations

from pathlib import Path

from mountlab import registry
from tests.bugs import all_bugs


def write(kit: Path) -> dict[int, str]:
    """Write it into ``kit/steps``; returns what each step's file now is."""
    def target(number: int) -> Path:
        s = registry.get(number)
        return kit / "steps" / s.folder / s.filename

    def solution(number: int) -> str:
        s = registry.get(number)
        return (kit / "solutions" / s.folder / s.filename).read_text()

    bugs = {b.step: b for b in reversed(all_bugs())}  # the first bug of each step
    done = {}
    target(1).write_text(solution(1))
    done[1] = "right (the reference solution)"
    for number in (2, 4):
        target(number).write_text(bugs[number].source())
        done[number] = f"wrong ({bugs[number].mistake})"
    source = target(3).read_text()
    target(3).write_text(source.replace("raise NotImplementedError", "if target\n        raise", 1))
    done[3] = "not valid Python"
    target(5).write_text("import mountlab_no_such_module\n" + solution(5))
    done[5] = "does not import"
    return done
