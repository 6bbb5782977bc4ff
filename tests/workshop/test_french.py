"""The French texts are complete: every step has its README.fr.md and its title in French, and
every hint exists in both languages, with no English left in the French (no sentence copied over
untranslated). Code, commands and identifiers are the same in both languages and are set aside."""

from __future__ import annotations

import re

import pytest

from mountlab import registry
from tests.language import ENGLISH, FRENCH, SHARED  # the stop words the printed lines are judged by

ROOT = registry.KIT_ROOT
STEPS = registry.steps()
IDS = [s.folder for s in STEPS]

FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.S | re.M)


def prose_words(text: str) -> list[str]:
    """The words of ``text`` without code: inline code, link targets, HTML tags, and tokens that
    look like code (calls, paths, flags, identifiers with _ = / . or brackets)."""
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"<[^>]+>", " ", text)
    text = re.sub(r"\S*[()_=/\\\[\]{}|]\S*", " ", text)
    return re.findall(r"[a-zà-ÿœ']+", text.lower())


def english_left(text: str) -> list[str]:
    return [w for w in prose_words(text) if w in ENGLISH and w not in SHARED]


def is_french(text: str) -> bool:
    return any(w in FRENCH and w not in SHARED for w in prose_words(text))


def test_the_detector_tells_english_from_french():
    """The test below is only as good as this: English is caught, French and code are not."""
    assert english_left("Check the source first: a missing source raises FileNotFoundError")
    assert not english_left("Vérifiez la source d'abord : une source absente lève "
                            "FileNotFoundError, avec os.path.isdir(source) et MS_BIND | MS_REC")
    assert is_french("Le noyau ignore MS_RDONLY lors du premier appel")
    assert not is_french("The kernel ignores MS_RDONLY on the first call")


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_every_hint_exists_in_french(step):
    en, fr = step.hints["en"], step.hints["fr"]
    assert en, f"step {step.number} has no hint"
    assert len(fr) == len(en), (
        f"step {step.number}: {len(en)} hints in English, {len(fr)} in French (steps.toml)")
    for i, (a, b) in enumerate(zip(en, fr, strict=True), 1):
        assert b.strip(), f"step {step.number}: French hint {i} is empty"
        assert a != b, f"step {step.number}: French hint {i} is the English one: {a!r}"
        assert is_french(b), f"step {step.number}: French hint {i} is not French: {b!r}"
        left = english_left(b)
        assert not left, f"step {step.number}: French hint {i} holds English ({left}): {b!r}"


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_the_title_exists_in_french(step):
    assert step.title["fr"] and step.title["fr"] != step.title["en"]
    assert not english_left(step.title["fr"]), step.title["fr"]


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_the_french_readme_is_complete(step):
    path = ROOT / step.readme("fr")
    assert path.is_file(), f"{step.readme('fr')} is missing"
    text = path.read_text()
    first = text.splitlines()[0] if text else ""
    assert first == f"# Étape {step.number} — {step.title['fr']}", (
        f"{step.readme('fr')} must start with its French title, not {first!r}")
    english = []
    for paragraph in re.split(r"\n\s*\n", FENCE.sub("", text)):
        words = prose_words(paragraph)
        left = english_left(paragraph)
        if left or (len(words) > 6 and not is_french(paragraph)):
            english.append(f"{left}: {' '.join(paragraph.split())[:120]}")
    assert not english, f"{step.readme('fr')} holds English:\n" + "\n".join(english)
    assert len(text) > 0.6 * len((ROOT / step.readme("en")).read_text()), (
        f"{step.readme('fr')} is much shorter than README.md: is a part missing?")


def test_the_english_readmes_pass_for_english():
    """The same measure finds English in every English README (so it would find it in French)."""
    for step in STEPS:
        assert english_left((ROOT / step.readme("en")).read_text())
