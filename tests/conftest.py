import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mountlab import registry
from tests import background, slow
from tests.slow import pytest_addoption, pytest_configure, pytest_terminal_summary  # noqa: F401

ROOT = registry.KIT_ROOT


def pytest_collection_modifyitems(config, items):
    # The slow marker: deselected unless --slow, MOUNTLAB_SLOW=1 or CI=true (tests/slow.py).
    slow.select(config, items)
    background.run_last(items)


def pytest_collection_finish(session):
    # Work that mostly waits (a fresh machine running the suite again, downloads) starts now.
    if not session.config.option.collectonly:
        background.start(session.items)


def pytest_sessionfinish(session):
    background.stop_all()


@pytest.fixture
def background_work(request):
    """This test's ``@pytest.mark.background(start=...)`` work (tests/background.py)."""
    return background.handle(request.node)


def run_checks(targets: list[str], impl: str, tmp_path: Path, *extra: str) -> dict:
    """Run the graded checks in a separate pytest, as a learner would; return its JSON report."""
    report = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.json"
    env = {k: v for k, v in os.environ.items() if k != "MOUNTLAB_IMPL"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *targets, "--impl", impl, "-q", "-p", "no:cacheprovider",
         "--mountlab-report", str(report), *extra],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if not report.exists():
        pytest.fail(f"the graded run wrote no report (exit {proc.returncode}):\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    data = json.loads(report.read_text())
    data["exit"] = proc.returncode
    data["stdout"] = proc.stdout
    return data


@pytest.fixture
def grade(tmp_path):
    def grade(targets, impl, *extra):
        return run_checks(list(targets), impl, tmp_path, *extra)
    return grade


#: The language the known-bug variants are graded in: French, so that the run that proves a bug
#: loses its points also proves a French learner reads why in French (tests/test_in_french.py).
VARIANT_LANG = "fr"


def _host_names():
    """What a bug that writes outside the check's folder would change (/srv, /etc, ...)."""
    return {top: sorted(os.listdir(top)) for top in ("/", "/srv", "/etc", "/opt", "/var", "/mnt")
            if os.path.isdir(top)}


@pytest.fixture(scope="session")
def graded_variant(tmp_path_factory):
    """``graded_variant(bug)``: the report of the bug's step graded once per test session, in
    French, beside the reference solutions of the other steps (``report["host_changed"]``: the
    run changed the host's top folders). Every test that needs a variant's run shares it."""
    from tests.grading import severity_rule

    runs: dict[str, dict] = {}

    def graded(bug) -> dict:
        if bug.id not in runs:
            tmp = tmp_path_factory.mktemp(re.sub(r"[^\w.-]+", "-", bug.id)[:40])
            folder = severity_rule.with_reference(bug, tmp / "impl")
            before = _host_names()
            report = run_checks([f"steps/{registry.get(bug.step).folder}"], str(folder), tmp,
                                "--lang", VARIANT_LANG)
            report["host_changed"] = _host_names() != before
            runs[bug.id] = report
        return runs[bug.id]

    return graded


def _devices():
    found = {}
    for name in ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom"):
        st = os.lstat(name)
        found[name] = (st.st_ino, st.st_mode, st.st_rdev)
    return found


@pytest.fixture(autouse=True)
def host_devices_untouched():
    """Containers bind the host's device files: no test may remove or replace one."""
    before = _devices()
    yield
    assert _devices() == before, "a host device file (/dev/null, ...) was removed or replaced"


@pytest.fixture(scope="session")
def pristine_kit(tmp_path_factory) -> Path:
    """A copy of this kit (the files git knows, tracked or not ignored) with the shipped
    skeletons in steps/: for tests that use the whole kit as it is delivered, whatever a learner
    has begun in this checkout."""
    from tests import skeletons

    copy = tmp_path_factory.mktemp("pristine") / "kit"
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in names:
        if name and (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    skeletons.restore(copy)
    return copy
