"""argparse's own words (``usage:``, the section titles, ``-h``'s help, usage errors) speak the
learner's language in ``./workshop`` and ``./container``, from mountlab/messages/argparse.toml."""

from __future__ import annotations

import argparse
import ast
import inspect
import re
import subprocess
import sys

from mountlab.messages import catalogue, parser_words
from tests import language
from tests.workshop.conftest import Kit

# What a learner meets on a typo: the usage line, the titles, -h, and these errors.
CORE = ("usage", "positionals", "options", "help", "required", "invalid_choice", "argument",
        "unrecognized", "error")


def argparse_messages() -> set[str]:
    """Every message this Python's argparse looks up through gettext, and -v's default help."""
    found = {"show program's version number and exit"}
    for node in ast.walk(ast.parse(inspect.getsource(argparse))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("_", "ngettext"):
            found.update(arg.value for arg in node.args
                         if isinstance(arg, ast.Constant) and isinstance(arg.value, str))
    return found


def test_each_english_text_is_argparses_own_and_keeps_its_placeholders():
    texts = catalogue(parser_words.CATALOGUE).texts
    known = argparse_messages()
    missing = {key: t["en"] for key, t in texts.items() if t["en"] not in known}
    assert not {key: text for key, text in missing.items() if key in CORE}, missing
    if sys.version_info[:2] == (3, 11):  # the version the catalogue was written against
        assert not missing, missing
    for key, text in texts.items():
        fields = [re.findall(r"%(?:\(\w+\))?[sr]", text[lang]) for lang in ("en", "fr")]
        assert sorted(fields[0]) == sorted(fields[1]), (key, text)


def english(text: str) -> list[str]:
    return [line for line in text.splitlines() if language.is_english(line)]


USAGE_ERRORS = [
    ("workshop", ("check", "9")),                  # a bad step: the type's own error
    ("workshop", ("grade", "--no-such-option")),   # unrecognized arguments
    ("workshop", ("check", "--help")),             # usage, titles, -h's help
    ("container", ("run",)),                       # the following arguments are required
    ("container", ("ps", "--format", "yaml")),     # invalid choice
    ("container", ("exec", "abc")),                # the kit's own usage error
    ("container", ("--help",)),
]


def _said(kit: Kit, program: str, args: tuple[str, ...], lang: str) -> str:
    module = "mountlab" if program == "workshop" else "mountlab.runtime"
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=kit.root,
                          env=kit.env(MOUNTLAB_LANG=lang), capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout + proc.stderr


def test_usage_and_usage_errors_speak_french(kit: Kit):
    found = {}
    for program, args in USAGE_ERRORS:
        said = _said(kit, program, args, "fr")
        assert said.strip(), (program, args)
        # argparse's English would say "usage:" and "argument --x: ..." (French: "argument --x :")
        assert "usage:" not in said and not re.search(r"argument \S+: ", said), said
        found[(program, args)] = english(said)
    assert not any(found.values()), found
    assert "utilisation :" in _said(kit, "workshop", ("check", "--help"), "fr")
    # The same commands in English are English: the measure sees the difference.
    said = _said(kit, "container", ("run",), "en")
    assert "the following arguments are required" in said and english(said), said
