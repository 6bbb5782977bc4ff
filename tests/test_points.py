"""The graded checks prove themselves: the reference solutions get every point, the untouched
skeletons get none, and every check of every step failed on the skeleton."""

from mountlab import registry
from tests import skeletons


def test_solutions_get_full_points_in_every_step(grade):
    report = grade(["steps"], "solutions")
    got = {s["number"]: (s["points"], s["max_points"]) for s in report["steps"]}
    expected = {s.number: (s.points, s.points) for s in registry.steps()}
    assert got == expected, report["stdout"][-4000:]
    for s in registry.steps():
        assert f"{s.label()}: {s.points}/{s.points} points" in report["stdout"]


def test_skeletons_get_zero_points_and_every_check_fails(grade, tmp_path):
    # The skeletons as shipped (git), not what a learner has begun in this checkout's steps/.
    report = grade(["steps"], str(skeletons.write_folder(tmp_path / "skeletons")))
    assert {s["number"] for s in report["steps"]} == {s.number for s in registry.steps()}
    passed = [c["nodeid"] for s in report["steps"] for c in s["checks"] if c["passed"]]
    assert passed == [], f"checks that pass on the untouched skeleton: {passed}"
    assert report["points"] == 0
    for s in registry.steps():
        assert f"{s.label()}: 0/{s.points} points" in report["stdout"]
