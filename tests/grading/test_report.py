"""The report writers: Gradescope's results.json (validated against the schema written from its
specification), GitHub Classroom's payload, JUnit XML, the table."""

import base64
import json
import xml.etree.ElementTree as ET

import pytest

from mountlab import registry
from mountlab.grading import report
from mountlab.grading.grader import Outcome


def make_report(hidden_passed=False):
    checks = [
        {"nodeid": "steps/01/test_setup_volume.py::test_a", "name": "test_a", "step": 1,
         "max_points": 3, "points": 3, "passed": True, "reason": "", "section": "what-to-do",
         "doc": "A works", "duration": 0.01, "output": "", "instances": 1,
         "passed_instances": 1, "hidden": False},
        {"nodeid": "steps/01/test_setup_volume.py::test_b", "name": "test_b", "step": 1,
         "max_points": 17, "points": 0, "passed": False, "reason": "it broke",
         "section": "modes", "doc": "B works", "duration": 0.02,
         "output": "Traceback...\nAssertionError: it broke", "instances": 2,
         "passed_instances": 1, "hidden": False},
        {"nodeid": "instructor/01/test_x_hidden.py::test_h", "name": "test_h", "step": 1,
         "max_points": 2, "points": 2 if hidden_passed else 0, "passed": hidden_passed,
         "reason": "" if hidden_passed else "hidden reason", "section": "", "doc": "H works",
         "duration": 0.0, "output": "", "instances": 1,
         "passed_instances": int(hidden_passed), "hidden": True},
    ]
    return {"impl": "/x", "created": "now", "points": 3, "max_points": 20,
            "hidden_points": 2 if hidden_passed else 0, "hidden_max_points": 2,
            "steps": [{"number": 1, "title": "t", "points": 3, "max_points": 20,
                       "checks": checks, "hidden_points": 2 if hidden_passed else 0,
                       "hidden_max_points": 2}]}


OUTCOMES = {
    "ok": Outcome("ana", "ok", make_report(True), duration=3.2),
    "timeout": Outcome("bob", "timeout", make_report(), duration=300.0),
    "error": Outcome("cy", "error: steps/02/mount_volume.py is not valid Python (line 3)",
                     make_report(), duration=4.0),
    "no-report": Outcome("dee", "error: the grading run ended without a report (exit 1)",
                         None, duration=0.5, log="boom"),
}


@pytest.mark.parametrize("kind", OUTCOMES)
def test_gradescope_results_validate_against_the_schema(kind, gradescope_validator):
    data = report.to_gradescope(OUTCOMES[kind])
    gradescope_validator.validate(data)
    json.loads(report.render(OUTCOMES[kind], "gradescope"))  # one JSON document, nothing else


def test_gradescope_scores_visibility_and_feedback(gradescope_validator):
    data = report.to_gradescope(OUTCOMES["error"])
    # steps 2 to 5 ran no check here: their points still count in the maximum
    assert data["score"] == 3 and data["extra_data"]["max_total"] == 122
    assert [t["visibility"] for t in data["tests"]] == ["visible", "visible", "after_published"]
    assert [t["status"] for t in data["tests"]] == ["passed", "failed", "failed"]
    assert [t["number"] for t in data["tests"]] == ["1.1", "1.2", "1.3"]
    lost = data["tests"][1]["output"]
    assert lost.startswith("it broke\nRead steps/01/README.md#modes") and "Traceback" in lost
    assert "not valid Python" in data["output"]
    assert sum(t["max_score"] for t in data["tests"]) == 22


def test_the_schema_refuses_what_gradescope_does_not_know(gradescope_validator):
    import jsonschema

    good = report.to_gradescope(OUTCOMES["ok"])
    for broken in ({**good, "score": "3"}, {**good, "visibility": "secret"},
                   {**good, "tests": [{**good["tests"][0], "status": "ok"}]},
                   {**good, "tests": [{**good["tests"][0], "max_points": 3}]},
                   {"output": "no score and no tests"}):
        with pytest.raises(jsonschema.ValidationError):
            gradescope_validator.validate(broken)


def test_gradescope_failure_document_validates(gradescope_validator):
    gradescope_validator.validate(report.gradescope_failure("KeyError: 'x'", 1.4))


def test_github_payload_carries_points_per_check():
    data = report.to_github(OUTCOMES["ok"])
    assert data["version"] == 1 and data["max_score"] == 122 and data["status"] == "fail"
    assert [t["score"] for t in data["tests"]] == [3, 0, 2]
    assert [t["status"] for t in data["tests"]] == ["pass", "fail", "pass"]
    for test in data["tests"]:
        assert set(test) == {"name", "status", "score", "message", "test_code", "filename",
                             "line_no", "duration"}
    line = report.github_output_line(data)
    assert line.startswith("result=") and line.endswith("\n")
    assert json.loads(base64.b64decode(line[len("result="):])) == data


def test_github_payload_says_error_when_grading_went_wrong():
    for kind in ("timeout", "error", "no-report"):
        data = report.to_github(OUTCOMES[kind])
        assert data["status"] == "error"
        assert data["tests"][-1]["name"] == "Grading of the submission"


def test_junit_written_when_pytest_wrote_none_parses_and_carries_points():
    root = ET.fromstring(report.to_junit(OUTCOMES["timeout"]))
    cases = root.findall(".//testcase")
    props = [int(p.get("value")) for p in root.iter("property") if p.get("name") == "max_score"]
    assert sum(props) == 22 and len(cases) == 4
    assert cases[-1].find("error").get("message") == "timeout"


def test_table_is_plain_text_without_a_terminal(capsys):
    report.print_table(OUTCOMES["error"])
    out = capsys.readouterr().out
    assert "\x1b[" not in out
    assert "ana" not in out and "cy: 3/122 points" in out
    assert f"{registry.get(1).label()}: 3/22" in out and "[instructor-only]" in out


def test_json_adds_status_and_totals_with_hidden_checks():
    data = json.loads(report.render(OUTCOMES["ok"], "json"))
    assert (data["student"], data["status"], data["total"], data["max_total"]) == \
        ("ana", "ok", 5, 122)


def critical_outcome():
    """Step 3 of a learner whose teardown rmtrees after a failed unmount: a critical check
    (3 points) and a minor one (1 point) failed, so the step is capped at 12 of 25."""
    s = registry.get(3)
    names = [("test_unmounts_and_removes_the_mount_point", 21, True),
             ("test_busy_past_the_timeout_raises_mount_busy_error", 3, False),
             ("test_the_timeout_is_honoured", 1, False)]
    checks = [{"nodeid": f"steps/03/test_unmount_volume.py::{n}", "name": n, "step": 3,
               "max_points": p, "points": p if ok else 0, "passed": ok,
               "reason": "" if ok else "it broke", "section": "busy-mounts", "doc": n,
               "duration": 0.1, "output": "", "hidden": False, "severity": s.severity(n),
               "why": s.why_critical(n)} for n, p, ok in names]
    step = {"number": 3, "title": "t", "points": 12, "max_points": 25, "checks": checks,
            "hidden_points": 0, "hidden_max_points": 0, "capped": True}
    return Outcome("eve", "ok", {"steps": [step], "points": 12, "max_points": 25},
                   duration=2.0)


def test_a_critical_failure_shows_first_with_why_in_every_format(gradescope_validator):
    outcome = critical_outcome()
    why = registry.get(3).why_critical("test_busy_past_the_timeout_raises_mount_busy_error")
    data = report.to_gradescope(outcome)
    gradescope_validator.validate(data)
    busy = next(t for t in data["tests"] if t["name"].endswith("mount_busy_error"))
    assert busy["output"].startswith(f"CRITICAL: {why}\nit broke") and "critical" in busy["tags"]
    assert data["output"].index("Critical checks failed") < \
        data["output"].index("- Step 3 — Unmount safely: 12/25 points")
    # the tests' scores add up to the points: one more line, for the cap
    assert sum(t["score"] for t in data["tests"]) == data["score"] == 12
    github = report.to_github(outcome)
    assert [t["score"] for t in github["tests"] if t["name"].startswith("Step 3")][-1] == -9
    assert sum(t["score"] for t in github["tests"]) == outcome.total == 12
    french = report.to_gradescope(outcome, "fr")
    assert french["tests"][1]["output"].startswith("CRITIQUE : ")
    table = report.to_table(outcome)
    lost = [line for line in table.splitlines() if "✗" in line]
    assert lost[0].strip().startswith("✗ CRITICAL: test_busy_past") and why in table
    assert "at most 12 of its 25 points" in table


def test_junit_carries_each_checks_severity():
    root = ET.fromstring(report.to_junit(critical_outcome()))
    severities = [p.get("value") for p in root.iter("property") if p.get("name") == "severity"]
    assert severities == ["critical", "critical", "minor"]
