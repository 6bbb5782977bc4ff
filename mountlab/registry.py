"""The one list of steps: ``steps.toml`` beside this file. Everything that needs a step's title,
module, points or hints reads it from here."""

from __future__ import annotations

import functools
import sys
from collections import namedtuple
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

KIT_ROOT = Path(__file__).resolve().parent.parent
LANGS = ("en", "fr")


class Step(namedtuple("Step", "number slug title module functions points hints")):
    """One step: ``title`` and ``hints`` are dicts by language (``"en"``, ``"fr"``)."""

    __slots__ = ()

    @property
    def folder(self) -> str:
        """``"03"``: the folder name under ``steps/`` and ``solutions/``."""
        return f"{self.number:02d}"

    @property
    def filename(self) -> str:
        return f"{self.module}.py"

    def readme(self, lang: str = "en") -> str:
        return f"steps/{self.folder}/README{'' if lang == 'en' else '.' + lang}.md"

    def label(self, lang: str = "en") -> str:
        return f"Step {self.number} — {self.title[lang]}"


@functools.cache
def steps() -> tuple[Step, ...]:
    with open(Path(__file__).with_name("steps.toml"), "rb") as f:
        data = tomllib.load(f)
    return tuple(
        Step(number=s["number"], slug=s["slug"], title=dict(s["title"]), module=s["module"],
             functions=tuple(s["functions"]), points=s["points"],
             hints={lang: tuple(s["hints"][lang]) for lang in LANGS})
        for s in data["step"])


def get(number: int | str) -> Step:
    """The step numbered ``number`` (1, "3", "03"); ``KeyError`` with the valid range otherwise."""
    try:
        n = int(number)
    except (TypeError, ValueError):
        n = None
    for step in steps():
        if step.number == n:
            return step
    raise KeyError(f"no step {number!r}: the steps are 1 to {len(steps())}")


def for_path(path: str | Path) -> Step | None:
    """The step a file belongs to, from its folder (``.../steps/03/test_x.py`` -> step 3)."""
    for part in reversed(Path(path).parts[:-1]):
        if part.isdigit():
            try:
                return get(part)
            except KeyError:
                return None
    return None
