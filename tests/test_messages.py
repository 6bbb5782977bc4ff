"""The message catalogues (mountlab/messages/*.toml, steps/NN/ and instructor/NN/messages.toml):
every text exists in every language with the same placeholders, the French is French, every key
the code asks for exists, and every graded check has its title there."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from mountlab import lang, messages, registry
from tests import language

ROOT = registry.KIT_ROOT
CATALOGUES = [Path(p) for p in messages.kit_catalogues()]
IDS = [str(p.relative_to(ROOT)) for p in CATALOGUES]


def texts(path: Path) -> dict[str, dict[str, str]]:
    return messages.catalogue(str(path)).texts


def test_the_catalogues_are_found():
    names = {str(p.relative_to(ROOT)) for p in CATALOGUES}
    assert {"mountlab/messages/grading.toml", "mountlab/messages/sandbox.toml",
            "steps/03/messages.toml", "instructor/01/messages.toml"} <= names
    assert all(f"steps/{s.folder}/messages.toml" in names for s in registry.steps())


@pytest.mark.parametrize("path", CATALOGUES, ids=IDS)
def test_every_text_exists_in_both_languages_with_the_same_placeholders(path):
    found = texts(path)
    assert found, f"{path}: no text"
    problems = []
    for key, by_lang in found.items():
        missing = [code for code in lang.LANGS if not by_lang.get(code, "").strip()]
        if missing:
            problems.append(f"{key}: no {', '.join(missing)} text")
            continue
        fields = {code: messages.placeholders(by_lang[code]) for code in lang.LANGS}
        if len({frozenset(f) for f in fields.values()}) > 1:
            problems.append(f"{key}: placeholders differ: " + "; ".join(
                f"{code} {sorted(f)}" for code, f in fields.items()))
    assert not problems, f"{path}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", CATALOGUES, ids=IDS)
def test_the_french_is_french(path):
    english = [f"{key}: {t['fr']}" for key, t in texts(path).items()
               if language.is_english(t["fr"])]
    assert not english, f"{path}: English in the French texts:\n" + "\n".join(english)
    copied = [key for key, t in texts(path).items()
              if t["fr"] == t["en"] and len(language.prose_words(t["en"])) > 2]
    assert not copied, f"{path}: French text copied from the English: {copied}"


def _literal_keys(path: Path, function: str) -> list[tuple[str, bool]]:
    """(key, complete) of each ``function("key", ...)`` call in a Python file; an f-string key
    gives its constant start (complete False)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == function and node.args):
            continue
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            found.append((first.value, True))
        elif isinstance(first, ast.JoinedStr) and first.values and \
                isinstance(first.values[0], ast.Constant):
            found.append((first.values[0].value, False))
    return found


def _known(keys: set[str], key: str, complete: bool) -> bool:
    return key in keys if complete else any(k.startswith(key) for k in keys)


def test_every_key_the_kit_asks_for_exists():
    """``say("area.key")`` in mountlab/ names a text of mountlab/messages/area.toml."""
    by_area = {p.stem: set(texts(p)) for p in CATALOGUES if p.parent.name == "messages"}
    unknown = []
    for path in sorted((ROOT / "mountlab").rglob("*.py")):
        for key, complete in _literal_keys(path, "say"):
            area, _, name = key.partition(".")
            if not _known(by_area.get(area, set()), name, complete):
                unknown.append(f"{path.relative_to(ROOT)}: {key}")
    assert not unknown, "no such text:\n" + "\n".join(unknown)


def test_every_key_a_check_asks_for_exists_and_every_check_has_a_title():
    problems = []
    for folder in ("steps", "instructor"):
        for test_file in sorted((ROOT / folder).glob("*/test_*.py")):
            keys = set(texts(test_file.with_name(messages.FILENAME)))
            for key, complete in _literal_keys(test_file, "say"):
                if not _known(keys, key, complete):
                    problems.append(f"{test_file.relative_to(ROOT)}: no text {key!r}")
            # the `why` keys handed to check_inside / refused & co. are texts too
            source = test_file.read_text()
            for key in re.findall(r'"(why_\w+)"', source):
                if key not in keys:
                    problems.append(f"{test_file.relative_to(ROOT)}: no text {key!r}")
            for node in ast.parse(source).body:
                if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") and \
                        f"{node.name}.title" not in keys:
                    problems.append(f"{test_file.relative_to(ROOT)}: {node.name} has no title")
    assert not problems, "\n".join(problems)


def test_a_missing_text_is_an_error_naming_its_file():
    with pytest.raises(messages.MessageError, match="grading.toml: no text 'nope'"):
        messages.say("grading.nope")


def test_a_text_said_in_one_language_is_said_again_in_the_other():
    said = messages.say("impl.does_not_import_line", "en", path="/k/steps/03/x.py", line=12,
                        error="SyntaxError: invalid syntax")
    assert messages.reword(said, ["impl.missing", "impl.does_not_import_line"], "fr") == \
        "/k/steps/03/x.py ne s'importe pas (ligne 12) : SyntaxError: invalid syntax"
    assert messages.reword("something else", ["impl.missing"], "fr") == "something else"
    found = re.search(messages.pattern("grading.leaked_check", "mounts"),
                      messages.say("grading.leaked_check", "fr", mounts="/a, /b"))
    assert found and found.group(1) == "/a, /b"
