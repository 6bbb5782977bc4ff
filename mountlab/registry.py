"""The one list of steps: ``steps.toml`` beside this file. Everything that needs a step's title,
module, points or hints reads it from here.

``./container run`` must start in about the time of ``python3 -c pass``: importing tomllib and
pathlib and parsing every title and hint would cost a good share of that, so ``entry()`` reads
only what loading a step's code needs (number, module, functions) from the file's plain lines,
and everything else (``steps()``, ``get()``, ``KIT_ROOT``) is built on first use.
"""

from __future__ import annotations

import functools
import os
from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

LANGS = ("en", "fr")
#: A check's severity, gravest first (docs/grading.md says what each costs).
SEVERITIES = ("critical", "major", "minor")
_TOML = os.path.join(os.path.dirname(__file__), "steps.toml")


def kit_root() -> str:
    """``KIT_ROOT`` as a string (no pathlib import): the folder holding ``mountlab/``."""
    if "KIT_ROOT" in globals():  # already built, or set by a test: it wins
        return os.fspath(globals()["KIT_ROOT"])
    return _real_kit_root()


@functools.cache
def _real_kit_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def __getattr__(name: str) -> Path:
    # KIT_ROOT (a pathlib.Path) is made on first use: importing pathlib costs milliseconds.
    if name == "KIT_ROOT":
        from pathlib import Path

        root = Path(__file__).resolve().parent.parent
        globals()["KIT_ROOT"] = root
        return root
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Step(namedtuple("Step", "number slug title module functions points hints severities "
                             "why")):
    """One step: ``title`` and ``hints`` are dicts by language (``"en"``, ``"fr"``);
    ``severities`` maps each check's name to ``"critical"``, ``"major"`` or ``"minor"``, and
    ``why`` each critical check's name to why it is critical, by language."""

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

    def label(self, lang: str | None = None) -> str:
        """``Step 3 — Unmount safely`` / ``Étape 3 — Démonter sans risque`` (the language of
        the moment unless ``lang`` names one)."""
        from mountlab import lang as language
        from mountlab.messages import say

        chosen = language.chosen(lang)
        return say("grading.step_label", chosen, number=self.number, title=self.title[chosen])

    def severity(self, check: str) -> str | None:
        """The severity of the check named ``check`` (its test function), None if unlisted."""
        return self.severities.get(check)

    def why_critical(self, check: str, lang: str = "en") -> str:
        """What the bug a critical check catches would do ("" for the other checks)."""
        return self.why.get(check, {}).get(lang, "")


class Entry(namedtuple("Entry", "number module functions")):
    """What loading a step's code needs: its number, module name and functions."""

    __slots__ = ()

    folder = Step.folder
    filename = Step.filename


@functools.cache
def steps() -> tuple[Step, ...]:
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    with open(_TOML, "rb") as f:
        data = tomllib.load(f)
    return tuple(
        Step(number=s["number"], slug=s["slug"], title=dict(s["title"]), module=s["module"],
             functions=tuple(s["functions"]), points=s["points"],
             hints={lang: tuple(s["hints"][lang]) for lang in LANGS},
             severities=_severities(s), why=_why(s))
        for s in data["step"])


def _severities(s: dict) -> dict[str, str]:
    """check name -> severity, from the step's ``severity.<level> = [names]``; a name listed
    twice, or an unknown level, is an error in steps.toml."""
    found: dict[str, str] = {}
    for level, names in s.get("severity", {}).items():
        if level not in SEVERITIES:
            raise ValueError(f"steps.toml, step {s['number']}: unknown severity {level!r} "
                             f"(one of {', '.join(SEVERITIES)})")
        for name in names:
            if name in found:
                raise ValueError(f"steps.toml, step {s['number']}: {name} is both "
                                 f"{found[name]} and {level}")
            found[name] = level
    return found


def _why(s: dict) -> dict[str, dict[str, str]]:
    """critical check name -> {lang: text}; every critical check says why, in every language."""
    why = {name: dict(texts) for name, texts in s.get("why", {}).items()}
    critical = set(s.get("severity", {}).get("critical", ()))
    for name in critical | set(why):
        missing = [lang for lang in LANGS if not why.get(name, {}).get(lang)]
        if name not in critical or missing:
            raise ValueError(f"steps.toml, step {s['number']}: {name}: `why` goes with critical "
                             f"checks only, in {' and '.join(LANGS)}"
                             + (f" (missing: {', '.join(missing)})" if missing else ""))
    return why


def get(number: int | str) -> Step:
    """The step numbered ``number`` (1, "3", "03"); ``KeyError`` with the valid range otherwise."""
    try:
        n = int(number)
    except (TypeError, ValueError):
        n = None
    for step in steps():
        if step.number == n:
            return step
    from mountlab.messages import say

    raise KeyError(say("workshop.no_step", number=repr(number), last=len(steps())))


def entry(number: int | str) -> Entry:
    """Number, module and functions of step ``number``, as ``get(number)`` has them, without
    parsing titles and hints when steps.toml is plainly written; ``KeyError`` like ``get``."""
    if steps.cache_info().currsize == 0:  # steps.toml not parsed yet in this process
        try:
            found = _plain_entries().get(int(number))
        except (TypeError, ValueError):
            found = None
        if found is not None:
            return found
    s = get(number)
    return Entry(s.number, s.module, s.functions)


_IDENT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _ident(text: str) -> str | None:
    """``"name"`` -> ``name`` when it is a plain quoted identifier, else None."""
    if len(text) > 2 and text[0] == text[-1] == '"' and set(text[1:-1]) <= _IDENT \
            and not text[1].isdigit():
        return text[1:-1]
    return None


def _plain_value(key: str, text: str) -> int | str | tuple[str, ...] | None:
    text = text.strip()
    if key == "number":
        return int(text) if text.isascii() and text.isdigit() and (
            text == "0" or text[0] != "0") else None
    if key == "module":
        return _ident(text)
    if not (text.startswith("[") and text.endswith("]")):
        return None
    items = text[1:-1].split(",")
    if items and not items[-1].strip() and len(items) > 1:
        items.pop()  # a trailing comma
    names = tuple(_ident(item.strip()) for item in items)
    return names if names and None not in names else None


@functools.cache
def _plain_entries() -> dict[int, Entry]:
    """number -> Entry read from the lines ``number = N``, ``module = "m"`` and
    ``functions = ["f", ...]`` of each ``[[step]]``; empty (so that the caller parses the whole
    file with tomllib) as soon as anything is not written that plainly."""
    try:
        with open(_TOML, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return {}
    if '"""' in text or "'''" in text:
        return {}
    blocks: list[dict[str, object]] = []
    for line in text.splitlines():
        first = line[:1]
        if first == "[":
            if line.rstrip() != "[[step]]":
                return {}  # another table, or an array opening at column 0: not plain
            blocks.append({})
            continue
        if first not in ("n", "m", "f"):
            continue  # other keys, comments, the lines inside multi-line arrays (indented)
        key, sep, value = line.partition("=")
        key = key.rstrip()
        if not sep or key not in ("number", "module", "functions"):
            continue
        # An indented or quoted key line is not read here: that step then lacks a key and the
        # whole file goes to tomllib, which also judges duplicates and comments.
        parsed = None if "#" in value or not blocks else _plain_value(key, value)
        if parsed is None or key in blocks[-1]:
            return {}
        blocks[-1][key] = parsed
    found: dict[int, Entry] = {}
    for block in blocks:
        if len(block) != 3:
            return {}
        found.setdefault(block["number"], Entry(block["number"], block["module"],
                                                 block["functions"]))
    return found


def for_path(path: str | Path) -> Step | None:
    """The step a file belongs to, from its folder (``.../steps/03/test_x.py`` -> step 3)."""
    from pathlib import Path

    for part in reversed(Path(path).parts[:-1]):
        if part.isdigit():
            try:
                return get(part)
            except KeyError:
                return None
    return None
