"""``./workshop grade-class --lang fr`` on a small real class: what the instructor reads (the run's
lines, the summary and the class report page, reasons and problems included) is French, judged
line by line by tests/language.py. The submissions: the skeletons, the first three steps done, a
known bug of step 3, a step that is not valid Python, one that forks a daemon, a broken zip."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from mountlab import registry
from tests import language
from tests.bugs.step03 import BUGS
from tests.grading import classgen

CHOSEN = ("skeleton", "steps-1-to-3-done", "not-valid-python", "forks-a-daemon", "broken-zip")


class Text(HTMLParser):
    """The page's text, one line per block element; scripts and styles left out."""

    BLOCKS = {"p", "h1", "h2", "h3", "li", "tr", "summary", "div", "title", "th", "td", "br"}

    def __init__(self):
        super().__init__()
        self.lines, self.current, self.skip = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "svg"):
            self.skip += 1
        if tag in self.BLOCKS:
            self.flush()

    def handle_endtag(self, tag):
        if tag in ("script", "style", "svg"):
            self.skip -= 1
        if tag in self.BLOCKS:
            self.flush()

    def handle_data(self, data):
        if not self.skip:
            self.current.append(data)

    def flush(self):
        line = " ".join("".join(self.current).split())
        if line:
            self.lines.append(line)
        self.current = []


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("classe")
    dest = tmp / "rendus"
    dest.mkdir()
    for name, sources, _, layout in classgen.specials():
        if name in CHOSEN:
            classgen._lay_out(dest, name, sources, layout)
    bug = BUGS[0]
    classgen._lay_out(dest, "bug-etape-3", classgen._with(3, bug.source()), "kit")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOUNTLAB_")}
    proc = subprocess.run([sys.executable, "-m", "mountlab", "grade-class", str(dest), "--out",
                           str(tmp / "notes.csv"), "--timeout", "120", "--jobs", "2", "--html",
                           str(tmp / "rapport.html"), "--lang", "fr"],
                          cwd=registry.KIT_ROOT, env=env, capture_output=True, text=True,
                          timeout=1200)
    parser = Text()
    parser.feed((tmp / "rapport.html").read_text() if (tmp / "rapport.html").exists() else "")
    parser.flush()
    names = [p.name.removesuffix(".zip") for p in dest.iterdir() if not p.name.startswith(".")]
    return proc, parser.lines, names


def without(names: list[str], line: str) -> str:
    """The line without the submissions' names (folder names, the class's data)."""
    for name in sorted(names, key=len, reverse=True):
        line = line.replace(name, " ")
    return line


def test_grade_class_speaks_french(graded):
    proc, _, names = graded
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [without(names, line) for line in (proc.stdout + proc.stderr).splitlines()
             if line.strip()]
    assert any("rendus notés" in line for line in lines), proc.stdout
    left = [line for line in lines if language.is_english(line)]
    assert not left, "\n".join(left)


def test_the_class_report_speaks_french(graded):
    _, lines, names = graded
    lines = [without(names, line) for line in lines]
    assert "Tests que la classe rate le plus" in lines and len(lines) > 40, lines
    # The problems of the run, in French (the grader's words), and the reasons of lost checks.
    assert any("n'est pas du Python valide" in line for line in lines), lines
    assert any("ne s'importe pas (ligne" in line for line in lines), lines  # impl.toml, reworded
    assert any(re.search(r"processus en marche|pas un fichier zip lisible", line)
               for line in lines), lines
    left = [line for line in lines if language.is_english(line)]
    assert not left, "\n".join(left)
