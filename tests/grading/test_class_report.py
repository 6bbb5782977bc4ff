"""The class report (mountlab/grading/html_report.py) on a made-up class: what it says, in both
languages, that it escapes what submissions wrote, and that a real browser shows its plots and
fetches nothing. tests/grading/test_class.py checks it against the CSV of a class really graded."""

import html
import json
import random
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from mountlab import registry
from mountlab.grading import classdata, html_report, severity
from mountlab.grading.grader import Outcome
from tests.grading import browser
from tests.grading.test_severity import _graded_checks

CHECKS = _graded_checks()
HOSTILE = '<script>alert("x")</script>&"'


def fake_outcome(student, failed, status="ok", duration=3.0):
    """A learner whose checks named in ``failed`` failed (with a reason), points as the plugin
    counts them."""
    steps = []
    for s in registry.steps():
        checks = []
        for step, name, points in CHECKS:
            if step.number != s.number:
                continue
            lost = name in failed.get(s.number, ())
            checks.append({"nodeid": f"steps/{s.folder}/test_x.py::{name}", "name": name,
                           "step": s.number, "max_points": points, "points": 0 if lost else points,
                           "passed": not lost, "reason": f"it broke {HOSTILE}" if lost else "",
                           "section": "", "doc": name.replace("_", " "), "output": "",
                           "hidden": False, "severity": s.severity(name),
                           "why": s.why_critical(name)})
        failed_here = [(c["severity"], c["max_points"]) for c in checks if not c["passed"]]
        points = severity.score(s.points, s.points, failed_here)
        steps.append({"number": s.number, "title": s.title["en"], "points": points,
                      "max_points": s.points, "hidden_points": 0, "hidden_max_points": 0,
                      "capped": points < s.points - sum(p for _, p in failed_here),
                      "checks": checks})
    return Outcome(student, status, {"steps": steps}, duration=duration)


def make_class(size=30, seed=6):
    rng = random.Random(seed)
    outcomes = []
    for i in range(size):
        failed = {}
        for step, name, _ in CHECKS:
            if rng.random() < 0.08 * (step.number / 3):
                failed.setdefault(step.number, []).append(name)
        outcomes.append(fake_outcome(f"learner-{i:02d}", failed, duration=rng.uniform(2, 40)))
    outcomes.append(Outcome("late", "timeout", None, duration=300.0))
    outcomes.append(Outcome("crash", "error: the grading run ended without a report (killed "
                            "by SIGKILL)", None, duration=5.0))
    outcomes.append(Outcome("nothing", "error: no step file found (expected ...)", None))
    outcomes.append(fake_outcome(HOSTILE, {3: ["test_a_mount_point_with_data_is_left_alone"]}))
    return outcomes


class Rows(HTMLParser):
    """The learners' table: student -> {data-col: data-v} of its numbers (points, total)."""

    def __init__(self):
        super().__init__()
        self.rows, self.student, self.in_learners = {}, None, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.in_learners = a.get("id") == "learners"
        if self.in_learners and tag == "tr" and "data-student" in a:
            self.student = a["data-student"]
            self.rows[self.student] = {}
        if self.in_learners and tag == "td" and "data-v" in a and "data-col" in a and \
                self.student is not None:
            self.rows[self.student][a["data-col"]] = a.get("data-v", "")


def learner_rows(page: str) -> dict:
    parser = Rows()
    parser.feed(page)
    return parser.rows


@pytest.fixture(scope="module")
def outcomes():
    return make_class()


@pytest.fixture(scope="module")
def page(outcomes, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    html_report.write(outcomes, path, lang="en", created="2026-12-06")
    return path


def test_every_learner_has_a_row_with_the_points_of_the_gradebook(outcomes, page):
    rows = learner_rows(page.read_text())
    assert set(rows) == {o.student for o in outcomes}
    for o in outcomes:
        want = {f"step{s.folder}": str(o.step_points(s.number)[0]) for s in registry.steps()}
        want["total"] = str(o.total)
        assert rows[o.student] == want, o.student


def test_common_failures_come_critical_first_with_how_many_learners(outcomes, page):
    found = classdata.common_failures(outcomes)
    ranks = [severity.rank(f.severity) for f in found]
    assert ranks == sorted(ranks) and found[0].severity == "critical"
    text = page.read_text()
    first = found[0]
    n = len(first.learners)
    assert n == sum(1 for o in outcomes for c in o.checks()
                    if c["name"] == first.name and c["step"] == first.step and not c["passed"])
    who = "1 learner" if n == 1 else f"{n} learners"
    assert html.escape(f"{who}: {first.why}") in text
    # in the page, in the same order
    order = [text.index(f'data-check="{f.name}" data-step="{f.step}"') for f in found]
    assert order == sorted(order)


def test_what_submissions_wrote_is_escaped_and_nothing_is_fetched(page):
    text = page.read_text()
    assert HOSTILE not in text and "&lt;script&gt;alert(" in text
    assert text.count("<script>") == 1  # the page's own sorting script only
    # No reference to anything outside the page (namespace names are not fetched; "#id" and
    # url(#id) point inside it).
    bare = re.sub(r'xmlns(:\w+)?="[^"]*"', "", text)
    outside = re.findall(r'(?:src|href)\s*=\s*"(?!#)[^"]*"|url\((?!#)[^)]*\)|@import|'
                         r"\b(?:https?|ftp)://\S+", bare)
    assert not outside, f"references to other files: {outside[:5]}"
    assert "Content-Security-Policy" in text and "default-src 'none'" in text


def test_problems_say_what_happened_and_why(page):
    text = page.read_text()
    section = text[text.index('id="problems"'):]
    for student, what in (("late", "timed out"), ("crash", "crashed"), ("nothing", "refused")):
        assert f'data-student="{student}"><td>{student}</td><td class="bad">{what}</td>' in section
    assert "no step file found" in section and "time limit" in section


def test_french(outcomes, tmp_path):
    path = tmp_path / "rapport.html"
    html_report.write(outcomes, path, lang="fr", created="2026-12-06")
    text = path.read_text()
    assert '<html lang="fr">' in text and "Tests que la classe rate le plus" in text
    assert "Étape 3 — Démonter sans risque" in text and "critique" in text
    assert learner_rows(text) == learner_rows(html_report.render(outcomes, lang="en"))


def test_saved_class_gives_the_same_report(outcomes, tmp_path):
    saved = tmp_path / "gradebook.json"
    classdata.save(outcomes, saved)
    again, _ = classdata.load(saved)
    assert [(o.student, o.status, o.total) for o in again] == \
        sorted((o.student, o.status, o.total) for o in outcomes)
    out = tmp_path / "again.html"
    proc = subprocess.run([sys.executable, "-m", "mountlab", "report", str(saved), "--html",
                           str(out)], cwd=registry.KIT_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert learner_rows(out.read_text()) == learner_rows(html_report.render(outcomes))


def test_a_file_that_is_not_a_saved_class_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "gradebook.json"
    bad.write_text(json.dumps({"steps": []}))
    proc = subprocess.run([sys.executable, "-m", "mountlab", "report", str(bad), "--html",
                           str(tmp_path / "r.html")], cwd=registry.KIT_ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 2 and not (tmp_path / "r.html").exists()
    assert proc.stderr.count("\n") == 1 and "grade-class" in proc.stderr


def test_the_browser_notices_a_page_that_fetches(tmp_path):
    """The check below could not fail if the NetLog missed what a page fetches: it does not."""
    page = tmp_path / "fetching.html"
    page.write_text('<html><body><img src="http://example.invalid/x.png"></body></html>')
    assert browser.open_page(page, tmp_path / "b", probe=False)["fetched"] == \
        ["http://example.invalid/x.png"]


def test_in_a_browser_the_plots_show_sorting_works_and_nothing_is_fetched(page, tmp_path):
    # Without its Content-Security-Policy too: the page itself must reference nothing outside.
    bare = tmp_path / "bare.html"
    bare.write_text(page.read_text().replace("Content-Security-Policy", "X-Removed"))
    seen = browser.open_page(bare, tmp_path / "b")
    assert seen["fetched"] == []
    assert 'data-sortable="ready"' in seen["dom"], "the page's script did not run"
    assert seen["attrs"]["svgs"] == "1" and int(seen["attrs"]["shapes"]) > 30
    totals = [float(v) for v in seen["attrs"]["sorted"].split(",")]
    assert totals == sorted(totals, reverse=True) and len(totals) == len(learner_rows(
        page.read_text()))
