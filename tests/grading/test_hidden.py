"""Instructor-only checks (``@pytest.mark.points(n, hidden=True)`` in ``instructor/NN/``): counted
apart from the step's total, shown in JUnit, left out of the learner's own run."""

import xml.etree.ElementTree as ET

import pytest

from mountlab import registry
from tests import skeletons

ROOT = registry.KIT_ROOT
pytestmark = pytest.mark.skipif(not (ROOT / "instructor" / "01").is_dir(),
                                reason="no instructor-only checks in this copy")


def test_hidden_checks_count_apart_from_the_steps_total(grade, tmp_path):
    junit = tmp_path / "junit.xml"
    report = grade(["steps/01", "instructor/01"], "solutions", "--junitxml", str(junit))
    (step,) = report["steps"]
    assert (step["points"], step["max_points"]) == (20, 20)  # steps.toml's total, unchanged
    hidden = [c for c in step["checks"] if c["hidden"]]
    assert hidden and step["hidden_max_points"] == sum(c["max_points"] for c in hidden) > 0
    assert step["hidden_points"] == step["hidden_max_points"]
    assert report["hidden_points"] == step["hidden_points"]
    assert "+ instructor-only checks:" in report["stdout"]
    props = [(c.get("name"), p.get("name"), p.get("value"))
             for c in ET.parse(junit).getroot().iter("testcase") for p in c.iter("property")]
    assert ("test_the_umask_is_left_as_it_was", "hidden", "true") in props


def test_hidden_checks_fail_on_the_skeleton_and_are_marked(grade, tmp_path):
    report = grade(["steps/01", "instructor/01"],
                   str(skeletons.write_folder(tmp_path / "skeletons")))
    (step,) = report["steps"]
    assert step["hidden_points"] == 0 and step["points"] == 0
    assert "[instructor-only]" in report["stdout"]


def test_a_learner_run_without_them_is_unchanged(grade):
    report = grade(["steps/01"], "solutions")
    assert report["hidden_max_points"] == 0 and report["points"] == 20
