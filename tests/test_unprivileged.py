"""Without root, the graded checks run in a user namespace and give the same points as with root."""

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from mountlab import registry
from tests import skeletons

# An unprivileged user that is neither nobody nor in /etc/passwd, with a group of another number:
# inside a user namespace whose maps are not written yet every id reads 65534, so a kit that read
# its ids too late would pass as nobody (65534) and fail as any learner.
UID, GID = 61234, 61235
# What a graded run imports besides the kit: copied where an unprivileged user can read them.
PACKAGES = ["pytest", "_pytest", "pluggy", "iniconfig", "packaging", "py", "pygments", "tomli",
            "exceptiongroup"]


def _unprivileged(*command: str, env: dict | None = None, cwd: str | None = None):
    return subprocess.run(["setpriv", f"--reuid={UID}", f"--regid={GID}", "--clear-groups",
                           *command], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)


def _world_readable(path: str) -> bool:
    """Every folder on the way to ``path`` lets others through."""
    while path != "/":
        path = os.path.dirname(path)
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
    return True


@pytest.fixture(scope="module")
def unprivileged_kit():
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to the unprivileged user")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    python = os.path.realpath(sys.executable)
    if not _world_readable(python):
        pytest.skip(f"{python} is not reachable by other users (a venv on a personal python)")
    if _unprivileged("unshare", "--user", "--map-root-user", "--mount", "true").returncode != 0:
        pytest.skip("this kernel does not allow unprivileged user namespaces")
    top = tempfile.mkdtemp(prefix="mountlab-unprivileged-")
    os.chmod(top, 0o755)
    kit, site = Path(top, "kit"), Path(top, "site")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "steps", "mountlab",
                            "conftest.py", "pyproject.toml"], cwd=registry.KIT_ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (registry.KIT_ROOT / name).is_file():
            (kit / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(registry.KIT_ROOT / name, kit / name)
    shutil.copytree(registry.KIT_ROOT / "solutions", kit / "solutions")
    skeletons.restore(kit)  # git's skeletons, not a learner's work begun in this checkout
    site.mkdir()
    for name in PACKAGES:
        try:
            module = __import__(name)
        except ImportError:
            continue
        origin = Path(module.__file__)
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, site / name)
        else:
            shutil.copy(origin, site)
    subprocess.run(["chmod", "-R", "a+rX", top], check=True)
    yield python, kit, site
    shutil.rmtree(top)


@pytest.mark.parametrize("impl, full", [("solutions", True), ("steps", False)])
def test_the_checks_give_the_same_points_without_root(unprivileged_kit, impl, full):
    python, kit, site = unprivileged_kit
    report = Path(tempfile.mkdtemp(prefix="mountlab-report-"))
    os.chown(report, UID, GID)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(report),
           "PYTHONPATH": f"{site}:{kit}", "PYTHONDONTWRITEBYTECODE": "1"}
    # pytest's own temporary folder in the report's: /tmp/pytest-of-unknown (a uid without a
    # name) may belong to another uid.
    proc = _unprivileged(python, "-m", "pytest", "steps", "--impl", impl, "-q", "-p",
                         "no:cacheprovider", "--basetemp", str(report / "tmp"),
                         "--mountlab-report", str(report / "r.json"), env=env, cwd=str(kit))
    try:
        data = json.loads((report / "r.json").read_text())
    except FileNotFoundError:
        pytest.fail(f"no report (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr}")
    finally:
        shutil.rmtree(report, ignore_errors=True)
    got = {s["number"]: s["points"] for s in data["steps"]}
    want = {s.number: s.points if full else 0 for s in registry.steps()}
    assert got == want, proc.stdout[-4000:]


def test_learner_code_cannot_read_the_graders_home_without_root(unprivileged_kit):
    """A submission graded by ``./workshop grade`` without root runs as the grader's own uid: the
    grader's home is hidden from it (HOME names it; this uid has no entry in /etc/passwd)."""
    python, kit, site = unprivileged_kit
    # Outside /tmp, which the checks' namespaces cover anyway, as a real home is.
    top = Path(tempfile.mkdtemp(prefix="mountlab-home-", dir="/var/lib"))
    os.chmod(top, 0o755)
    home, submission, results = top / "home", top / "class" / "thief", top / "results.json"
    home.mkdir(mode=0o700)
    secret = secrets.token_hex(16)
    (home / "secret.txt").write_text(secret)
    for s in registry.steps():
        (submission / s.filename).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(kit / "solutions" / s.folder / s.filename, submission / s.filename)
    (submission / "setup_volume.py").write_text(
        "def setup_volume(volume_path, container_path):\n"
        f"    raise ValueError(open({str(home / 'secret.txt')!r}).read())\n")
    subprocess.run(["chown", "-R", f"{UID}:{GID}", str(top)], check=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "PYTHONPATH": f"{site}:{kit}", "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        proc = _unprivileged(python, "-m", "mountlab", "grade", "--student", str(submission),
                             "--format", "gradescope", "--out", str(results), env=env,
                             cwd=str(kit))
        text = results.read_text() if results.exists() else ""
    finally:
        shutil.rmtree(top)
    assert text, f"no results (exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr}"
    assert secret not in text + proc.stdout + proc.stderr
    step1 = [t for t in json.loads(text)["tests"] if t["name"].startswith("Step 1")]
    assert step1 and all(t["score"] == 0 for t in step1 if not t.get("hidden"))
    assert any("No such file or directory" in t.get("output", "") for t in step1)
