"""The kit's code is ruff clean (the configuration is in pyproject.toml)."""

import shutil
import subprocess
import sys

import pytest

from mountlab import registry
from tests import skeletons


def test_ruff_is_clean(tmp_path):
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(registry.KIT_ROOT / ".venv/bin"))
    if ruff is None:
        pytest.skip("ruff is not installed (pip install ruff, or the dev extra)")
    # The learner's step modules are theirs, half-done or not: the skeletons git holds are
    # checked in their place, with the kit's settings.
    learner = [f"steps/{s.folder}/{s.filename}" for s in registry.steps()]
    proc = subprocess.run([ruff, "check", "--no-cache", "--extend-exclude", ",".join(learner),
                           "."], cwd=registry.KIT_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    folder = skeletons.write_folder(tmp_path / "steps")
    proc = subprocess.run([ruff, "check", "--no-cache", "--config",
                           str(registry.KIT_ROOT / "pyproject.toml"), str(folder)],
                          cwd=registry.KIT_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_step_titles_in_readme_follow_the_registry():
    readme = (registry.KIT_ROOT / "README.md").read_text()
    for step in registry.steps():
        assert f"steps/{step.folder}/README.md" in readme
        for lang in registry.LANGS:
            text = (registry.KIT_ROOT / step.readme(lang)).read_text()
            first = text.splitlines()[0]
            assert step.title[lang] in first, f"{step.readme(lang)}: {first!r}"
    assert sys.version_info >= (3, 10)
