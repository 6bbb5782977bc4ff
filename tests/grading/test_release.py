"""``./workshop release``: the learner copy has nothing of the instructor's, passes its own check,
and can be graded from outside."""

import json
import os
import subprocess
import sys

from mountlab import registry
from mountlab.grading import grader, release

ROOT = registry.KIT_ROOT


def test_release_writes_a_learner_copy_that_passes_its_own_check(tmp_path, pristine_kit):
    # From a copy of the kit as delivered: a learner's work begun here must not change it.
    kit = pristine_kit
    out = tmp_path / "learner"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOUNTLAB_")}
    proc = subprocess.run([sys.executable, "-m", "mountlab", "release", str(out)], cwd=kit,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the learner copy is ready" in proc.stdout
    for gone in ("solutions", "instructor", "tests", "bench", ".ci", "docs/grading.md"):
        assert not (out / gone).exists(), gone
    assert (out / ".github" / "workflows" / "classroom.yml").is_file()
    assert os.access(out / "workshop", os.X_OK)
    for s in registry.steps():
        assert (out / "steps" / s.folder / s.filename).read_text() == \
            (kit / "steps" / s.folder / s.filename).read_text()
    if (kit / "notebooks").is_dir():
        for nb in (kit / "notebooks").rglob("*.ipynb"):  # with their outputs, unchanged
            assert (out / nb.relative_to(kit)).read_bytes() == nb.read_bytes()
        assert (out / "notebooks" / "fr" / "labkit.py").is_file()

    # The instructor grades the copy (a learner's repository) with the kit's checks.
    outcome = grader.grade_submission(out, workdir=tmp_path)
    assert outcome.status == "ok" and outcome.total == 0


def test_release_refuses_a_folder_inside_the_kit_or_not_empty(tmp_path):
    for bad in (ROOT / "learner-copy", ROOT / "steps"):
        try:
            release.write(bad)
        except release.ReleaseError:
            pass
        else:
            raise AssertionError(f"wrote a release into {bad}")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("")
    try:
        release.write(tmp_path / "x")
    except release.ReleaseError as exc:
        assert "not empty" in str(exc)


def test_verify_notices_an_instructor_only_check_left_in_the_copy(tmp_path):
    out = tmp_path / "learner"
    release.write(out)
    (out / "steps" / "01" / "test_leak.py").write_text(
        "import pytest\n\n@pytest.mark.points(1, hidden=True)\ndef test_x():\n    pass\n")
    result = release.verify(out)
    assert any("instructor-only check" in p for p in result.problems)
    assert json.dumps(result.problems)  # plain strings, printable
