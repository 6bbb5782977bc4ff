"""The reference solutions graded through the whole grader: every format carries the points."""

import json
import xml.etree.ElementTree as ET

from mountlab import registry
from mountlab.grading import report


def test_json_report_has_every_step_at_full_points(reference_outcome):
    data = json.loads(report.render(reference_outcome, "json"))
    assert data["status"] == "ok"
    assert {s["number"]: s["points"] for s in data["steps"]} == \
        {s.number: s.points for s in registry.steps()}
    assert data["total"] == data["max_total"] == 120 + data["hidden_max_points"]


def test_junit_parses_and_carries_the_points(reference_outcome):
    root = ET.fromstring(report.render(reference_outcome, "junit"))
    cases = root.findall(".//testcase")
    assert cases and all(c.find("failure") is None and c.find("error") is None for c in cases)
    scores = [int(p.get("value")) for p in root.iter("property") if p.get("name") == "max_score"]
    assert sum(scores) == reference_outcome.max_total
    steps = {p.get("value") for p in root.iter("property") if p.get("name") == "step"}
    assert steps == {str(s.number) for s in registry.steps()}


def test_gradescope_results_of_the_reference_validate(reference_outcome, gradescope_validator):
    data = json.loads(report.render(reference_outcome, "gradescope"))
    gradescope_validator.validate(data)
    assert data["score"] == sum(t["score"] for t in data["tests"]) == reference_outcome.max_total
    hidden = [t for t in data["tests"] if t["visibility"] == "after_published"]
    assert sum(t["max_score"] for t in hidden) == reference_outcome.report["hidden_max_points"]
