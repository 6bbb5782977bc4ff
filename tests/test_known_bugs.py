"""Every classic learner mistake loses points on the check meant to catch it, as much as the
severity of that check says (docs/grading.md)."""

import pytest

from mountlab import registry
from tests.bugs import all_bugs
from tests.grading import severity_rule

BUGS = all_bugs()


@pytest.mark.parametrize("bug", BUGS, ids=[b.id for b in BUGS])
def test_known_bug_loses_points_on_its_check(bug, graded_variant):
    # The run is shared with tests/test_in_french.py, which reads what it said.
    report = graded_variant(bug)
    assert not report["host_changed"], \
        "the buggy code wrote on the host, outside the check's folder"
    (step,) = report["steps"]
    checks = {c["name"]: c for c in step["checks"]}
    assert bug.check in checks, f"no check named {bug.check} in step {bug.step}"
    assert not checks[bug.check]["passed"], (
        f"'{bug.mistake}' kept the points of {bug.check}; the run said:\n"
        + report["stdout"][-3000:])
    level = checks[bug.check]["severity"]
    assert level == registry.get(bug.step).severity(bug.check)
    problem = severity_rule.broken(level, step["points"], step["max_points"])
    assert not problem, f"'{bug.mistake}' ({level}): {problem}\n" + report["stdout"][-3000:]
