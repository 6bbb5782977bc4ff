"""The severity of checks (docs/grading.md): every check has one, the rule that turns failed checks
into a step's points, and that rule on buggy variants nobody chose the severities by
(tests/bugs/unseen.py; the known bugs of tests/bugs are held to it in tests/test_known_bugs.py)."""

import ast

import pytest

from mountlab import registry
from mountlab.grading import severity
from tests.bugs.unseen import UNSEEN
from tests.conftest import VARIANT_LANG
from tests.grading import severity_rule


def _graded_checks():
    """(step, check name, points) of every graded check of steps/, read from the files."""
    found = []
    for s in registry.steps():
        for path in sorted((registry.KIT_ROOT / "steps" / s.folder).glob("test_*.py")):
            for node in ast.parse(path.read_text()).body:
                for deco in getattr(node, "decorator_list", []):
                    if isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "points":
                        found.append((s, node.name, deco.args[0].value))
    return found


def test_every_graded_check_has_a_severity_and_every_listed_one_exists():
    checks = _graded_checks()
    assert len(checks) > 50
    for s, name, points in checks:
        level = s.severity(name)
        assert level in registry.SEVERITIES, f"step {s.number}: {name} has no severity"
        assert not severity.problem(level, points, s.points), (s.number, name)
        if level == "critical":
            assert all(s.why_critical(name, lang) for lang in registry.LANGS), name
    names = {(s.number, name) for s, name, _ in checks}
    for s in registry.steps():
        stale = [n for n in s.severities if (s.number, n) not in names]
        assert not stale, f"step {s.number}: steps.toml lists checks that do not exist: {stale}"


@pytest.mark.parametrize("failed, points", [
    ([], 25),
    ([("major", 3)], 22),
    ([("minor", 1), ("major", 2)], 22),
    ([("critical", 3)], 12),  # capped: 25 // 2
    ([("critical", 3), ("critical", 2), ("minor", 1)], 12),  # one cap, however many
    ([("critical", 3)] + [("major", 3)] * 4, 10),  # below the cap already: the checks' own
    ([("major", 25)], 0),
])
def test_the_rule_on_a_step_of_25_points(failed, points):
    assert severity.score(25, 25, failed) == points


def test_a_critical_failure_always_costs_at_least_half_and_a_minor_one_at_most_a_fifth():
    for s, name, points in _graded_checks():
        level = s.severity(name)
        left = severity.score(s.points, s.points, [(level, points)])
        if level == "critical":
            assert 2 * left <= s.points, name
        elif level == "minor":
            assert 5 * left >= 4 * s.points, name


@pytest.mark.parametrize("bug", UNSEEN, ids=[b.id for b in UNSEEN])
def test_unseen_bug_follows_the_rule(bug, graded_variant):
    report = graded_variant(bug)  # graded in French, shared with tests/test_in_french.py
    (step,) = report["steps"]
    checks = {c["name"]: c for c in step["checks"]}
    assert not checks[bug.check]["passed"], (
        f"'{bug.mistake}' kept the points of {bug.check}:\n" + report["stdout"][-3000:])
    level = registry.get(bug.step).severity(bug.check)
    assert checks[bug.check]["severity"] == level
    problem = severity_rule.broken(level, step["points"], step["max_points"])
    assert not problem, f"'{bug.mistake}' ({level}): {problem}\n" + report["stdout"][-3000:]
    if level == "critical":  # the learner reads it first, with why
        summary = report["stdout"].split("mountlab ===", 1)[1]
        lost = [line for line in summary.splitlines() if line.startswith("  ✗ ")]
        assert lost[0].startswith("  ✗ " + severity.mark(VARIANT_LANG)), lost
        assert registry.get(bug.step).why_critical(bug.check, VARIANT_LANG) in summary
