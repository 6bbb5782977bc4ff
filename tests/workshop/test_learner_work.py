"""``./workshop test`` tests the kit, never the learner's work in ``steps/``: with half-done work
there (right, wrong, not valid Python, not importing), the kit's tests that reach for the
skeletons still get git's. The whole suite with such work is run by the fresh-machine test
(tests/vm/test_provision.py), as a learner who has begun runs ./workshop test."""

from __future__ import annotations

import subprocess
import sys

from mountlab import registry
from tests import learner_work
from tests.vm import fresh_machine


def test_half_done_work_in_steps_leaves_the_kits_tests_green(tmp_path):
    clone = tmp_path / "kit"
    fresh_machine.clone_kit(clone)
    begun = learner_work.write(clone)
    assert set(begun) == {s.number for s in registry.steps()}
    assert "not valid Python" in begun.values() and any(v.startswith("right") for v in
                                                        begun.values())
    # The tests that grade the skeletons and copy the kit to play a learner, in the clone.
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_points.py::test_skeletons_get_zero_points_and_every_check_fails",
         "tests/workshop/test_helpers.py", "tests/workshop/test_check.py::"
         "test_check_on_the_skeleton_is_short_and_says_what_to_read[01]",
         "tests/workshop/test_commands.py::test_status_of_a_new_copy_says_what_to_do_first"],
        cwd=clone, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout
    # and the learner's files are still theirs
    for number in begun:
        s = registry.get(number)
        assert (clone / "steps" / s.folder / s.filename).read_text() != \
            (clone / "solutions" / s.folder / s.filename).read_text() or number == 1
