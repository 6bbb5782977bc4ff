"""``./workshop autograder``: the Gradescope zip, and its run_autograder tried outside Gradescope
(``AUTOGRADER_ROOT`` in place of ``/autograder``)."""

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest

from mountlab import registry

ROOT = registry.KIT_ROOT


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("ag") / "autograder.zip"
    proc = subprocess.run([sys.executable, "-m", "mountlab", "autograder", str(out),
                           "--timeout", "300", "--lang", "en"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def test_zip_holds_the_scripts_at_its_root_and_no_solutions(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as zf:
        names = zf.namelist()
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        run = zf.read("run_autograder").decode()
        scripts = [zf.read(n).decode() for n in ("setup.sh", "run_autograder")]
    assert {"setup.sh", "run_autograder", "requirements.txt", "conftest.py"} <= set(names)
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    assert not any(n.startswith(("solutions/", "tests/")) for n in names)
    assert any(n.startswith("steps/05/test_") for n in names)
    assert "--timeout \"${MOUNTLAB_TIMEOUT:-300}\"" in run and "@" not in run.split("JSON")[0]
    assert all("\r" not in text for text in scripts)


def _autograder_root(tmp_path, autograder_zip, submission):
    root = tmp_path / "autograder"
    with zipfile.ZipFile(autograder_zip) as zf:
        zf.extractall(root / "source")
    (root / "source" / "run_autograder").chmod(0o755)
    shutil.copytree(submission, root / "submission")
    return root


def _run(root, **env):
    full = {k: v for k, v in os.environ.items() if not k.startswith("MOUNTLAB_")}
    full.update({"AUTOGRADER_ROOT": str(root), "MOUNTLAB_PYTHON": sys.executable, **env})
    proc = subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=full,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0
    return json.loads((root / "results" / "results.json").read_text())


def test_run_autograder_grades_loose_files_like_gradescope_hands_them(
        tmp_path, autograder_zip, gradescope_validator):
    loose = tmp_path / "upload"
    loose.mkdir()
    for s in registry.steps():  # Gradescope's upload: the five files, no folders
        shutil.copy(ROOT / "solutions" / s.folder / s.filename, loose / s.filename)
    results = _run(_autograder_root(tmp_path, autograder_zip, loose))
    gradescope_validator.validate(results)
    assert results["score"] == sum(t["max_score"] for t in results["tests"])
    assert results["extra_data"]["status"] == "ok"


def test_run_autograder_writes_results_even_when_grading_crashes(
        tmp_path, autograder_zip, gradescope_validator):
    empty = tmp_path / "empty"
    empty.mkdir()
    root = _autograder_root(tmp_path, autograder_zip, empty)
    results = _run(root)  # nothing to grade: a results.json that says so
    gradescope_validator.validate(results)
    assert results["score"] == 0 and "no step file" in results["extra_data"]["status"]
    results = _run(root, MOUNTLAB_PYTHON="/bin/false")  # the grader cannot even start
    gradescope_validator.validate(results)
    assert results["score"] == 0 and "autograder" in results["output"]


def test_the_zip_carries_the_language_learners_read(tmp_path, gradescope_validator):
    """``--lang fr``: a setting of the zip's run_autograder; the results a learner reads (the
    summary, each check's name and reason, the crash notice) are then French."""
    from tests import language, skeletons

    out = tmp_path / "fr.zip"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOUNTLAB_")}
    proc = subprocess.run([sys.executable, "-m", "mountlab", "autograder", str(out), "--lang",
                           "fr"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and "en français" in proc.stdout, proc.stdout + proc.stderr
    with zipfile.ZipFile(out) as zf:
        assert '--lang "fr"' in zf.read("run_autograder").decode()
    upload = tmp_path / "upload"
    upload.mkdir()
    for s in registry.steps():
        (upload / s.filename).write_text(skeletons.text(s.number))
    root = _autograder_root(tmp_path, out, upload)
    results = _run(root, LANG="C.UTF-8")  # the zip's setting, not the machine's locale
    gradescope_validator.validate(results)
    said = results["output"].splitlines() + [
        line for t in results["tests"] for line in [t["name"], *t["output"].split("\n\n")[0]
                                                    .splitlines()]]
    assert "Étape 1 — Créer les répertoires du volume" in results["output"]
    assert not [line for line in said if language.is_english(line)], said
    results = _run(root, MOUNTLAB_PYTHON="/bin/false")
    assert results["output"].startswith("L'autograder s'est arrêté"), results["output"]
