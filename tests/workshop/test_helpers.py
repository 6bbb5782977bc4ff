"""The small pieces under the commands: language choice, skeleton recognition, the fast grading's
sharding and merging, and watch's view of a step's files."""

from __future__ import annotations

import os
import time

import pytest

from mountlab import registry
from mountlab.workshop import reset, runner, ui, watch
from tests import skeletons

ROOT = registry.KIT_ROOT


@pytest.mark.parametrize("env, lang", [
    ({}, "en"),
    ({"LANG": "fr_FR.UTF-8"}, "fr"),
    ({"LANG": "fr_CA.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, "en"),
    ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "fr_BE.UTF-8"}, "fr"),
    ({"LC_MESSAGES": "fr_FR.UTF-8", "LC_ALL": "C"}, "en"),
    ({"LC_ALL": "fr_FR.UTF-8", "LANG": "C"}, "fr"),
    ({"MOUNTLAB_LANG": "fr", "LC_ALL": "en_US.UTF-8"}, "fr"),  # MOUNTLAB_LANG before the locale
    ({"MOUNTLAB_LANG": "en", "LANG": "fr_FR.UTF-8"}, "en"),
    ({"MOUNTLAB_LANG": "de", "LANG": "fr_FR.UTF-8"}, "fr"),  # one the kit does not speak
    ({"LANG": "C", "LC_MESSAGES": "fr"}, "fr"),
])
def test_the_language_follows_the_locale(monkeypatch, env, lang):
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "MOUNTLAB_LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert ui.env_lang() == lang


@pytest.mark.parametrize("step", registry.steps(), ids=lambda s: s.folder)
def test_skeletons_are_recognised_and_solutions_are_not(step):
    skeleton = skeletons.text(step.number)
    assert reset.is_skeleton(skeleton, step)
    solution = ROOT / "solutions" / step.folder / step.filename
    if solution.exists():
        assert not reset.is_skeleton(solution.read_text(), step)


def test_work_in_progress_is_not_a_skeleton():
    step = registry.get(1)
    skeleton = skeletons.text(1)
    begun = skeleton.replace('    raise NotImplementedError("setup_volume: fill in the TODOs")',
                             '    os.makedirs(volume_path, exist_ok=True)\n'
                             '    raise NotImplementedError("setup_volume: fill in the TODOs")')
    assert begun != skeleton and not reset.is_skeleton(begun, step)
    assert not reset.is_skeleton("def setup_volume(:\n", step)
    assert not reset.is_skeleton("", step)


class _Config:
    class hook:  # noqa: N801 - stands for pytest's config.hook
        deselected: list = []

        @classmethod
        def pytest_deselected(cls, items):
            cls.deselected += items


class _Item:
    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid


def test_shards_keep_the_cases_of_a_check_together_and_cover_every_check(tmp_path):
    ids = ["a.py::t1[x]", "a.py::t1[y]", "a.py::t2", "b.py::t3[1]", "b.py::t3[2]", "b.py::t4"]
    kept = []
    for k in range(3):
        items = [_Item(i) for i in ids]
        runner._Shard(k, 3, str(tmp_path / "order.json")).pytest_collection_modifyitems(
            _Config, items)
        kept.append([i.nodeid for i in items])
    assert sorted(sum(kept, [])) == sorted(ids)
    for share in kept:
        checks = {i.split("[")[0] for i in share}
        assert all(i in share for i in ids if i.split("[")[0] in checks)
    assert (tmp_path / "order.json").read_text() == \
        '["a.py::t1", "a.py::t2", "b.py::t3", "b.py::t4"]'


def _grades(reasons: list[str], passed: bool = False) -> runner.Grades:
    grade = runner.StepGrade(registry.get(1))
    grade.checks = [runner.Check(f"t{i}", "doc", passed, 0, 1, r, "") for i, r in
                    enumerate(reasons)]
    return runner.Grades("steps", {1: grade})


def test_a_machine_that_cannot_unshare_is_named_once():
    refused = "your code raised PermissionError: [Errno 1] unshare: Operation not permitted"
    assert "./workshop doctor" in runner.environment_problem(_grades([refused] * 3))
    assert runner.environment_problem(_grades(["not written yet"] * 3)) == ""
    assert runner.environment_problem(_grades([refused], passed=True)) == ""


def test_watch_sees_every_save_and_ignores_the_rest(kit, monkeypatch):
    monkeypatch.setattr(registry, "KIT_ROOT", kit.root, raising=False)
    step = registry.get(1)
    path = kit.file(1)
    before = watch.snapshot(step)
    assert {"setup_volume.py", "test_setup_volume.py", "README.md"} <= set(before)
    # Not a save of the step: reset's backups, editors' swap files, bytecode caches.
    (path.parent / "setup_volume.py.bak-20250101-000000").write_text("old")
    (path.parent / ".setup_volume.py.swp").write_text("swap")
    (path.parent / "__pycache__").mkdir(exist_ok=True)
    assert watch.snapshot(step) == before
    # An editor that writes a new file and renames it over the old one: same size, same time.
    stat = path.stat()
    tmp = path.with_name("setup_volume.py.new")
    tmp.write_text(path.read_text())
    os.utime(tmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(tmp, path)
    after = watch.snapshot(step)
    assert after != before and set(after) == set(before)
    # A plain write.
    time.sleep(0.01)
    path.write_text(path.read_text() + "\n")
    assert watch.snapshot(step) != after
