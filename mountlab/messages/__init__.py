"""The kit's sentences, English and French side by side: small TOML catalogues.

A catalogue is a TOML file whose texts are written ``key.en = "..."`` then ``key.fr = "..."``
(as ``steps.toml`` writes titles and hints), so a translator reads the English just above the
line to write, and a missing translation shows as a line missing from a pair. Placeholders are
``str.format`` fields, ``{path}`` or ``{mode:04o}``, the same in both languages (the kit's tests
check it).

- The kit's own texts live in ``mountlab/messages/AREA.toml`` and are read by ``say("AREA.key",
  **fields)``: ``say("grading.read", path=...)`` is the key ``read`` of ``grading.toml``.
- A step's checks keep theirs beside them, ``steps/NN/messages.toml`` (``instructor/NN/`` for the
  instructor-only checks): ``say = messages.beside(__file__)`` in the check file, then
  ``say("key", **fields)``. A check's title is its key ``<test name>.title``.

The language is the one the program chose (``mountlab.lang.use``: its ``--lang`` option, then
``MOUNTLAB_LANG``, then the locale), unless ``lang=`` names one.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

from mountlab import lang as _lang

HERE = os.path.dirname(os.path.abspath(__file__))
FILENAME = "messages.toml"  # a step's catalogue, beside its checks


class MessageError(KeyError):
    """A key that no catalogue has: a bug of the kit, named with its file."""

    def __str__(self) -> str:
        return str(self.args[0])


def _toml(path: str) -> dict:
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    with open(path, "rb") as f:
        return tomllib.load(f)


def flatten(data: dict, prefix: str = "") -> dict[str, dict[str, str]]:
    """``{"a": {"b": {"en": x, "fr": y}}}`` -> ``{"a.b": {"en": x, "fr": y}}``: a table whose keys
    are all languages and whose values are strings is one text; any other table is a level of
    the key."""
    found: dict[str, dict[str, str]] = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        if not isinstance(value, dict):
            raise ValueError(f"{key}: a text is written {key}.en = \"...\" and {key}.fr = \"...\"")
        if value and all(k in _lang.LANGS and isinstance(v, str) for k, v in value.items()):
            found[key] = dict(value)
        else:
            found.update(flatten(value, key + "."))
    return found


class Catalogue:
    """The texts of one TOML file, by key and language."""

    def __init__(self, path: str) -> None:
        self.path = path

    @functools.cached_property
    def texts(self) -> dict[str, dict[str, str]]:
        if not os.path.isfile(self.path):
            return {}
        return flatten(_toml(self.path))

    def __contains__(self, key: str) -> bool:
        return key in self.texts

    def text(self, key: str, lang: str | None = None) -> str:
        """The raw text of ``key`` (placeholders unfilled) in ``lang``, or in English when the
        catalogue lacks that language (the kit's tests make sure it never does)."""
        try:
            texts = self.texts[key]
        except KeyError:
            raise MessageError(f"{self.path}: no text {key!r}") from None
        chosen = _lang.chosen(lang)
        return texts.get(chosen) or texts.get(_lang.DEFAULT) or next(iter(texts.values()))

    def get(self, key: str, lang: str | None = None, default: str | None = None) -> str | None:
        return self.text(key, lang) if key in self.texts else default

    def __call__(self, key: str, /, lang: str | None = None, **fields: object) -> str:
        """The text of ``key`` in the language of the moment, its placeholders filled."""
        text = self.text(key, lang)
        return text.format(**fields) if fields else text


@functools.cache
def catalogue(path: str) -> Catalogue:
    return Catalogue(os.path.realpath(path))


def say(key: str, /, lang: str | None = None, **fields: object) -> str:
    """``say("area.key", **fields)``: the text ``key`` of ``mountlab/messages/area.toml``."""
    area, _, name = key.partition(".")
    return catalogue(os.path.join(HERE, f"{area}.toml"))(name, lang=lang, **fields)


def beside(file: str | os.PathLike) -> Catalogue:
    """The catalogue of the checks in ``file``: ``messages.toml`` in the same folder."""
    return catalogue(os.path.join(os.path.dirname(os.fspath(file)), FILENAME))


def placeholders(text: str) -> set[str]:
    """The fields a text fills: ``"{path} is {mode:04o}"`` -> ``{"path", "mode"}``."""
    import string

    return {name.split(".", 1)[0].split("[", 1)[0]
            for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def kit_catalogues(root: str | None = None) -> Iterator[str]:
    """Every catalogue of the kit: ``mountlab/messages/*.toml`` and each ``messages.toml`` of
    ``steps/NN/`` and ``instructor/NN/``."""
    from mountlab import registry

    root = root or registry.kit_root()
    for name in sorted(os.listdir(HERE)):
        if name.endswith(".toml"):
            yield os.path.join(HERE, name)
    for top in ("steps", "instructor"):
        folder = os.path.join(root, top)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name, FILENAME)
            if os.path.isfile(path):
                yield path


def pattern(key: str, field: str, group: str = r"(.*?)") -> str:
    """A regular expression that finds the text ``say(key, ...)`` in any language, with
    ``group`` where the placeholder ``field`` was (the only capturing group), so that the
    grader reads the kit's own words back whatever language a run spoke: the words before the
    field (other placeholders there match anything), then the words after it up to the next
    placeholder."""
    import re
    import string

    area, _, name = key.partition(".")
    texts = catalogue(os.path.join(HERE, f"{area}.toml")).texts[name]
    before, after = [], []
    for text in texts.values():
        head, tail, seen = "", None, False
        for literal, name_, _, _ in string.Formatter().parse(text):
            if seen:
                tail = re.escape(literal) if tail is None else tail
                continue
            head += re.escape(literal)
            if name_ == field:
                seen = True
            elif name_ is not None:
                head += ".*?"
        before.append(head)
        after.append(tail or "")
    return f"(?:{'|'.join(before)}){group}(?:{'|'.join(after)})"


def reword(text: str, keys: list[str], lang: str | None = None) -> str:
    """``text``, which another process said as ``say(key, ...)`` in some language (a learner's
    process speaks the locale it was given), said again in ``lang``; ``text`` itself when it
    is none of ``keys``."""
    import re
    import string

    for key in keys:
        area, _, name = key.partition(".")
        texts = catalogue(os.path.join(HERE, f"{area}.toml")).texts[name]
        for said in texts.values():
            regex, fields = "", []  # one group per field, named f0, f1...
            for literal, field, _, _ in string.Formatter().parse(said):
                regex += re.escape(literal)
                if field is not None and field in fields:
                    regex += f"(?P=f{fields.index(field)})"
                elif field is not None:
                    regex += f"(?P<f{len(fields)}>.*?)"
                    fields.append(field)
            found = re.fullmatch(regex, text, re.S)
            if found:
                values = {f: found.group(f"f{i}") for i, f in enumerate(fields)}
                target = "".join(lit + ("{" + f + "}" if f is not None else "")
                                 for lit, f, _, _ in string.Formatter().parse(
                                     say(key, lang)))
                return target.format(**values)
    return text
