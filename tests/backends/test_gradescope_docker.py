"""The Gradescope autograder, built into a Docker image and run the way Gradescope runs it: default
seccomp profile, no --privileged, --network none, the submission at /autograder/submission.
There mounts and namespaces are refused, so ``auto`` must grade through User-Mode Linux, and
``results.json`` must validate against the kit's schema with the expected scores.

Starts Debian's dockerd itself (``gradescope_docker.Daemon``) and stops it. The base image is
debootstrapped once and cached under /var/cache/mountlab (minutes the first time).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mountlab import registry
from tests.backends import gradescope_docker as gd
from tests.backends.conftest import mount_table, need
from tests.bugs import all_bugs


@pytest.fixture(scope="module")
def daemon():
    need(os.geteuid() == 0, "needs root, to start dockerd")
    before = mount_table()
    try:
        d = gd.Daemon().start()
    except gd.Unavailable as exc:
        # Only a daemon that cannot start here is a reason to skip (the brief's rule).
        need(False, f"dockerd cannot run here: {exc}")
    yield d
    d.stop()
    assert mount_table() == before, "dockerd left mounts on this machine"


@pytest.fixture(scope="module")
def autograder_image(daemon, tmp_path_factory):
    out = tmp_path_factory.mktemp("autograder") / "autograder.zip"
    subprocess.run([sys.executable, "-m", "mountlab", "autograder", str(out)],
                   cwd=registry.KIT_ROOT, check=True, capture_output=True)
    # The zip is reproducible: an image built from the same zip before is reused.
    tag = "mountlab-test/autograder:" + hashlib.sha256(out.read_bytes()).hexdigest()[:16]
    if daemon.docker("image", "inspect", tag, timeout=60).returncode == 0:
        return tag
    try:
        return gd.build_autograder(daemon, out, tag)
    except gd.Unavailable as exc:
        need(False, str(exc))


def _submission(kind: str) -> Path:
    """A learner's upload: loose step files, as Gradescope's upload form gives them."""
    folder = Path(tempfile.mkdtemp(prefix=f"mountlab-submission-{kind}-"))
    os.chmod(folder, 0o755)
    bug = next(b for b in all_bugs() if b.step == 5) if kind == "buggy" else None
    for s in registry.steps():
        base = "steps" if kind == "skeleton" else "solutions"
        source = registry.KIT_ROOT / base / s.folder / s.filename
        text = bug.source() if bug and bug.step == s.number else source.read_text()
        (folder / s.filename).write_text(text)
        os.chmod(folder / s.filename, 0o644)
    return folder


def _expected(kind: str) -> int:
    """The score the kit's own grader gives natively (root here)."""
    from mountlab.grading import grader

    folder = _submission(kind)
    try:
        outcome = grader.grade_submission(folder, backend="native")
    finally:
        shutil.rmtree(folder)
    assert outcome.status == "ok", outcome.status
    return outcome.total


# dockerd, a debootstrapped base, three gradings through UML: about 7 minutes, past CI's budget
@pytest.mark.slow(ci=False)
@pytest.mark.parametrize("kind", ["reference", "skeleton", "buggy"])
def test_gradescope_grades_through_uml_in_docker(daemon, autograder_image, gradescope_validator,
                                                 kind):
    submission = _submission(kind)
    before = mount_table()
    try:
        results = gd.run_submission(daemon, autograder_image, submission)
    finally:
        shutil.rmtree(submission)
    log = results.pop("_log")
    gradescope_validator.validate(results)
    assert mount_table() == before, "the host's mount table changed"
    assert results["extra_data"]["backend"] == "uml", log
    assert results["extra_data"]["status"] == "ok", results["extra_data"]["status"] + log
    total = sum(t["max_score"] for t in results["tests"])
    if kind == "reference":
        assert results["score"] == total, [t["name"] for t in results["tests"]
                                           if t["status"] != "passed"]
    elif kind == "skeleton":
        assert results["score"] == 0
    else:
        assert results["score"] == _expected("buggy") < total
