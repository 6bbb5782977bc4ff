"""Known-buggy variants of the reference solutions: the classic mistakes of learners.

Each ``Bug`` is the reference solution with a few exact text edits, so a variant stays in step with
the solution it comes from (an edit whose text is no longer in the solution is an error). The
self-tests grade every variant and require that the check named in ``check`` loses its points.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from mountlab import registry


@dataclass(frozen=True)
class Bug:
    step: int
    mistake: str  # the classic mistake, as the design reference words it
    check: str  # the graded check (test function name) that must lose its points
    edits: tuple[tuple[str, str], ...]  # (text of the solution, what the buggy variant has)

    @property
    def id(self) -> str:
        return f"step{self.step:02d}-" + "-".join(self.mistake.lower().replace("'", "").split())

    def source(self) -> str:
        s = registry.get(self.step)
        text = (registry.KIT_ROOT / "solutions" / s.folder / s.filename).read_text()
        for old, new in self.edits:
            count = text.count(old)
            if count != 1:
                raise ValueError(f"{self.id}: the edit's text occurs {count} times in the "
                                 f"solution (must be once): {old!r}")
            text = text.replace(old, new)
        return text

    def write(self, folder: Path) -> Path:
        """Lay the variant out as an implementation folder (``folder/NN/module.py``)."""
        s = registry.get(self.step)
        path = folder / s.folder / s.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.source())
        return folder


def all_bugs() -> list[Bug]:
    bugs = []
    for s in registry.steps():
        try:
            module = importlib.import_module(f"tests.bugs.step{s.folder}")
        except ModuleNotFoundError:
            continue
        bugs += module.BUGS
    return bugs
