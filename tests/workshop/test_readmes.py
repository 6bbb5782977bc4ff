"""Each step's README.md and README.fr.md tell the same thing: the same sections (anchors and
headings) in the same order, and the same code blocks, character for character (commands and code
are not translated). A README that drifts from its translation fails here, naming the step."""

from __future__ import annotations

import re

import pytest

from mountlab import registry

ROOT = registry.KIT_ROOT
FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.S | re.M)
ANCHOR = re.compile(r'<a id="([^"]+)"')
HEADING = re.compile(r"^(#{1,6}) ", re.M)


def without_code(text: str) -> str:
    return FENCE.sub("", text)


def structure(text: str) -> list[str]:
    """The anchors and heading levels, in order: ``#`` / ``a:what-to-do`` / ``##`` ..."""
    prose = without_code(text)
    marks = [(m.start(), f"a:{m[1]}") for m in ANCHOR.finditer(prose)]
    marks += [(m.start(), m[1]) for m in HEADING.finditer(prose)]
    return [mark for _, mark in sorted(marks)]


def code_blocks(text: str) -> list[str]:
    return [m[0] for m in FENCE.finditer(text)]


STEPS = registry.steps()
IDS = [s.folder for s in STEPS]


def readmes(step: registry.Step) -> tuple[str, str]:
    en, fr = ROOT / step.readme("en"), ROOT / step.readme("fr")
    assert en.is_file(), f"{step.readme('en')} is missing"
    assert fr.is_file(), f"{step.readme('fr')} is missing"
    return en.read_text(), fr.read_text()


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_same_sections_in_the_same_order(step):
    en, fr = readmes(step)
    assert structure(en), f"{step.readme('en')} has no sections"
    assert structure(en) == structure(fr), (
        f"step {step.folder}: the sections (anchors, headings) of README.md and README.fr.md "
        f"differ:\n  en: {structure(en)}\n  fr: {structure(fr)}")


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_every_section_has_an_anchor_the_checks_can_point_to(step):
    """The plugin sends learners to README.md#<section>, and README.fr.md#<section> in French."""
    en, fr = readmes(step)
    for text, name in ((en, step.readme("en")), (fr, step.readme("fr"))):
        anchors = ANCHOR.findall(without_code(text))
        assert len(anchors) == len(set(anchors)), f"{name}: an anchor is used twice"
        assert len(anchors) == len(re.findall(r"^## ", without_code(text), re.M)), (
            f"{name}: every ## section needs its <a id=...> anchor")


@pytest.mark.parametrize("step", STEPS, ids=IDS)
def test_identical_code_blocks(step):
    en, fr = readmes(step)
    blocks_en, blocks_fr = code_blocks(en), code_blocks(fr)
    assert len(blocks_en) == len(blocks_fr), (
        f"step {step.folder}: README.md has {len(blocks_en)} code blocks, README.fr.md "
        f"{len(blocks_fr)}")
    for i, (a, b) in enumerate(zip(blocks_en, blocks_fr, strict=True), 1):
        assert a == b, f"step {step.folder}: code block {i} differs:\n--- en\n{a}\n--- fr\n{b}"


def test_the_checks_sections_exist_in_both_readmes():
    """Every section a graded check names (``points(n, section=...)``) is an anchor of both."""
    for step in STEPS:
        en, fr = readmes(step)
        sections = set()
        for test in (ROOT / "steps" / step.folder).glob("test_*.py"):
            sections |= set(re.findall(r'section="([^"]+)"', test.read_text()))
        for text, name in ((en, step.readme("en")), (fr, step.readme("fr"))):
            missing = sections - set(ANCHOR.findall(text))
            assert not missing, f"{name}: no anchor for the checks' sections {sorted(missing)}"
