"""What ``./workshop`` says to a French learner is French: ``status``, ``doctor``, ``hint --all``,
``check`` and ``solution`` on the shipped skeletons, judged line by line by tests/language.py; and
the language is chosen by ``--lang``, then ``MOUNTLAB_LANG``, then the locale, down to ``pytest
steps/NN``."""

from __future__ import annotations

import subprocess
import sys

from mountlab import registry
from tests import language
from tests.workshop.conftest import Kit, no_traceback

COMMANDS = [("status",), ("doctor",), ("check",), ("solution", "1"),
            *(("hint", str(s.number), "--all") for s in registry.steps())]


def english(text: str) -> list[str]:
    return [line for line in text.splitlines() if language.is_english(line)]


def test_the_commands_speak_french(kit: Kit):
    said, found = {}, {}
    for command in COMMANDS:
        proc = kit.run(*command, "--lang", "fr", timeout=300)
        no_traceback(proc)
        said[command] = proc.stdout + proc.stderr
        found[command] = english(said[command])
    assert all(text.strip() for text in said.values()), said
    assert not any(found.values()), "\n".join(
        f"./workshop {' '.join(c)}: {line}" for c, lines in found.items() for line in lines)
    # The measure finds the English of the same commands in English.
    for command in (("status",), ("hint", "1", "--all")):
        proc = kit.run(*command, "--lang", "en")
        assert len(english(proc.stdout)) >= 3, proc.stdout


def _check_words(proc: subprocess.CompletedProcess) -> str:
    out = proc.stdout + proc.stderr
    if "Premier test en échec" in out and "pourquoi" in out:
        return "fr"
    if "First failing check" in out and "why" in out:
        return "en"
    return f"neither: {out[-2000:]}"


def test_the_language_is_chosen_by_option_then_mountlab_lang_then_locale(kit: Kit):
    cases = [((), {}, "en"),
             ((), {"LANG": "fr_FR.UTF-8"}, "fr"),
             ((), {"LC_MESSAGES": "fr_FR.UTF-8"}, "fr"),
             ((), {"LANG": "fr_FR.UTF-8", "LC_ALL": "C.UTF-8"}, "en"),
             ((), {"MOUNTLAB_LANG": "fr"}, "fr"),
             ((), {"MOUNTLAB_LANG": "en", "LANG": "fr_FR.UTF-8"}, "en"),
             (("--lang", "fr"), {"MOUNTLAB_LANG": "en"}, "fr"),
             (("--lang", "en"), {"MOUNTLAB_LANG": "fr", "LC_ALL": "fr_FR.UTF-8"}, "en")]
    for args, env, want in cases:
        proc = kit.run("check", "5", *args, **env)
        assert _check_words(proc) == want, (args, env)


def test_pytest_itself_takes_the_option_and_mountlab_lang(kit: Kit):
    def summary(*args: str, **env: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "pytest", "steps/05", "-q", "-p",
                               "no:cacheprovider", *args], cwd=kit.root, env=kit.env(**env),
                              capture_output=True, text=True, timeout=300)
        return proc.stdout.split("= mountlab =", 1)[-1]

    assert "Étape 5 — Analyser l'option -v : 0/20 points" in summary("--lang", "fr")
    assert "Étape 5 — Analyser l'option -v : 0/20 points" in summary(MOUNTLAB_LANG="fr")
    assert "Étape 5 — Analyser l'option -v : 0/20 points" in summary(LANG="fr_FR.UTF-8")
    assert "Step 5 — Parse the -v flag: 0/20 points" in summary("--lang", "en",
                                                                MOUNTLAB_LANG="fr")
