"""The walkthroughs in notebooks/: committed with their outputs, and those outputs still come out.

- Each notebook is committed executed: every code cell run, in order, with its outputs, and no
  error; a stripped notebook would pass ``pytest --nbval`` vacuously, so this is checked apart.
- Each ends with a "What you learned" cell that names the step using it.
- ``pytest --nbval`` (strict: every output compared, what varies sanitized by
  notebooks/sanitize.cfg, no cell ignored) passes, the four notebooks together take under 60 s,
  and the host's mount table is the same after the run as before it.
- The same run as a normal user (``nobody``, through a user namespace) gives the same outputs,
  where the machine allows unprivileged user namespaces.

Refresh the committed outputs with ``scripts/run_notebooks.py`` (as root).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SANITIZE = NOTEBOOKS / "sanitize.cfg"
EXPECTED = ["01-bind-mounts.ipynb", "02-unmount-and-ebusy.ipynb",
            "03-debugging-with-findmnt.ipynb", "04-volumes-end-to-end.ipynb"]
NBVAL = ["--nbval", "notebooks/", "--nbval-sanitize-with", "notebooks/sanitize.cfg",
         "--nbval-cell-timeout", "60", "-p", "no:cacheprovider"]
BUDGET = 60.0  # seconds, all four notebooks together
NORMAL_USER = "nobody"
USER_PYTHON_ENV = "MOUNTLAB_NB_USER_PYTHON"  # a Python the normal user may run, with the deps


def _load(name: str) -> dict:
    return json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _mount_table() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


# -- what is committed -------------------------------------------------------------------------

def test_the_four_notebooks_are_there():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_committed_executed_with_outputs(name):
    nb = _load(name)
    assert nb["metadata"].get("kernelspec", {}).get("name") == "mountlab", (
        f"{name}: the kernelspec must be 'mountlab' (the kernel the set-up installs)")
    cells = _code_cells(nb)
    assert cells, f"{name} has no code cell"
    counts = [c.get("execution_count") for c in cells]
    assert None not in counts, (
        f"{name}: cell {counts.index(None) + 1} was not run (execution_count null): run "
        "scripts/run_notebooks.py; a stripped notebook would pass nbval without comparing anything")
    assert counts == list(range(1, len(cells) + 1)), (
        f"{name}: execution counts {counts}: run it top to bottom in one fresh kernel "
        "(scripts/run_notebooks.py)")
    for i, cell in enumerate(cells, 1):
        assert cell.get("outputs"), (
            f"{name}: code cell {i} has no output, so nbval compares nothing there: print what "
            f"it did\n{_text(cell)[:300]}")
        kinds = {o.get("output_type") for o in cell["outputs"]}
        assert "error" not in kinds, f"{name}: code cell {i} stored an error"
        streams = {o.get("name") for o in cell["outputs"] if o.get("output_type") == "stream"}
        assert "stderr" not in streams, (
            f"{name}: code cell {i} wrote to stderr (warnings make outputs flaky)")


@pytest.mark.parametrize("name", EXPECTED)
def test_no_output_ignored_or_skipped(name):
    # What varies is sanitized (notebooks/sanitize.cfg); whole cells are never left out.
    for cell in _code_cells(_load(name)):
        text = _text(cell) + " ".join(cell.get("metadata", {}).get("tags", []))
        for marker in ("NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP", "NBVAL_RAISES_EXCEPTION"):
            assert marker.lower() not in text.lower(), f"{name}: {marker} in a cell"


@pytest.mark.parametrize("name", EXPECTED)
def test_ends_with_what_you_learned(name):
    last = _load(name)["cells"][-1]
    text = _text(last)
    assert last["cell_type"] == "markdown" and "## What you learned" in text, (
        f"{name} must end with a '## What you learned' markdown cell")
    assert re.search(r"\bsteps/0[1-5]\b", text), f"{name}: say which step uses it (steps/NN)"


def test_sanitize_file_parses():
    nbval_plugin = pytest.importorskip("nbval.plugin")
    text = SANITIZE.read_text()
    patterns = nbval_plugin.get_sanitize_patterns(text)
    assert len(patterns) == text.count("\nregex: ") + text.startswith("regex: "), \
        "every regex: line must be followed at once by its replace: line"
    for regex, _replace in patterns:
        re.compile(regex)


# -- running them --------------------------------------------------------------------------------

def _require_notebook_tools() -> None:
    """Skip (fail on CI, where the set-up installs them) when the tools are missing."""
    problems = []
    for module in ("nbval", "ipykernel", "jupyter_client", "matplotlib"):
        try:
            __import__(module)
        except ImportError:
            problems.append(f"{module} is not installed (pip install -e '.[notebooks]')")
    if not problems:
        from jupyter_client.kernelspec import KernelSpecManager

        if "mountlab" not in KernelSpecManager().find_kernel_specs():
            problems.append("no Jupyter kernel named mountlab (python -m ipykernel install "
                            "--sys-prefix --name mountlab)")
    if not shutil.which("unshare") or not sys.platform.startswith("linux"):
        problems.append("Linux with util-linux is needed")
    if problems:
        if os.environ.get("CI"):
            pytest.fail("; ".join(problems))
        pytest.skip("; ".join(problems))


def _nbval(argv_prefix: list[str], env: dict | None = None) -> tuple[subprocess.CompletedProcess,
                                                                        float]:
    start = time.monotonic()
    proc = subprocess.run([*argv_prefix, *NBVAL], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    return proc, time.monotonic() - start


def _summary(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"


def test_nbval_strict_passes_fast_and_leaves_the_mount_table(capsys):
    _require_notebook_tools()
    before = _mount_table()
    proc, seconds = _nbval([sys.executable, "-m", "pytest", "-q"])
    after = _mount_table()
    with capsys.disabled():
        print(f"\n[notebooks] pytest --nbval, all four, as uid {os.geteuid()}: {seconds:.1f} s")
    assert proc.returncode == 0, _summary(proc)
    assert re.search(r"\b\d+ passed\b", proc.stdout) and " failed" not in proc.stdout, \
        _summary(proc)
    assert after == before, "the host's mount table changed during pytest --nbval notebooks/"
    assert seconds < BUDGET, f"the four notebooks took {seconds:.1f} s (budget {BUDGET:.0f} s)"


def _as_user(command: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return subprocess.run(["su", NORMAL_USER, "-s", "/bin/sh", "-c",
                           f"cd {shlex.quote(str(ROOT))} && env -i {assignments} {command}"],
                          capture_output=True, text=True, timeout=timeout)


def _user_python(env: dict[str, str]) -> tuple[str | None, str]:
    """A Python the normal user can run that has what the notebooks need, or why there is none."""
    candidates = [os.environ[USER_PYTHON_ENV]] if os.environ.get(USER_PYTHON_ENV) else []
    candidates.append(sys.executable)
    reasons = []
    for python in candidates:
        check = _as_user(f"{shlex.quote(python)} -c 'import nbval, ipykernel, matplotlib, "
                         "mountlab'", env)
        if check.returncode == 0:
            return python, ""
        reasons.append(f"{python}: {(check.stderr or check.stdout).strip().splitlines()[-1:]}")
    return None, "; ".join(reasons)


def test_nbval_as_a_normal_user_gives_the_same_outputs(capsys):
    _require_notebook_tools()
    if os.geteuid() != 0:
        pytest.skip("already running as a normal user: the strict run above was that run")
    if shutil.which("su") is None:
        pytest.skip("su is missing: cannot switch to a normal user")
    try:
        import pwd

        user = pwd.getpwnam(NORMAL_USER)
    except KeyError:
        pytest.skip(f"no user {NORMAL_USER} on this machine")
    home = tempfile.mkdtemp(prefix="mountlab-nb-user-")
    try:
        os.chmod(home, 0o755)
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOME": home, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONPATH": str(ROOT), "JUPYTER_PATH": os.path.join(home, "jupyter"),
               "JUPYTER_RUNTIME_DIR": os.path.join(home, "runtime"),
               "IPYTHONDIR": os.path.join(home, "ipython"),
               "MPLCONFIGDIR": os.path.join(home, "matplotlib")}
        os.chown(home, user.pw_uid, user.pw_gid)
        if _as_user("unshare -Urm true", env).returncode != 0:
            pytest.skip(f"{NORMAL_USER} may not create a user namespace here (unprivileged user "
                        "namespaces disabled, e.g. kernel.apparmor_restrict_unprivileged_userns=1 "
                        "on Ubuntu 24.04): the notebooks need one when not root")
        if _as_user(f"test -r {shlex.quote(str(NOTEBOOKS / EXPECTED[0]))}", env).returncode:
            pytest.skip(f"{NORMAL_USER} cannot read {NOTEBOOKS} (a checkout under a private "
                        "folder such as /root)")
        python, why = _user_python(env)
        if python is None:
            pytest.skip(f"no Python that {NORMAL_USER} can run with nbval, ipykernel, matplotlib "
                        f"and the kit ({why}); set {USER_PYTHON_ENV} to one")
        # The kernel named mountlab, for this user, runs that same Python.
        spec = Path(home, "jupyter", "kernels", "mountlab")
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "mountlab", "language": "python"}))
        for path in Path(home).rglob("*"):
            os.chown(path, user.pw_uid, user.pw_gid)
        os.chown(home, user.pw_uid, user.pw_gid)

        before = _mount_table()
        start = time.monotonic()
        proc = _as_user(" ".join(shlex.quote(a) for a in [python, "-m", "pytest", "-q", *NBVAL]),
                        env, timeout=600)
        seconds = time.monotonic() - start
        after = _mount_table()
        with capsys.disabled():
            print(f"\n[notebooks] pytest --nbval, all four, as {NORMAL_USER}: {seconds:.1f} s")
        assert proc.returncode == 0, _summary(proc)
        assert after == before, "the host's mount table changed during the normal user's run"
    finally:
        shutil.rmtree(home, ignore_errors=True)  # the user's caches: nothing is mounted there


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


_HANG = '''
import os, subprocess, time
import labkit
from mountlab import syscalls as sc

def hang(path):
    os.makedirs("/mnt/busy")
    sc.mount("busy", "/mnt/busy", "tmpfs")
    holder = subprocess.Popen(["sleep", "120"], cwd="/mnt/busy")
    with open(path, "w") as f:
        f.write(f"{os.getpid()} {holder.pid}")
    time.sleep(120)

labkit.lab(hang, PATH, timeout=300)
'''


def _said(kc) -> str:
    out = []
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=0.5)
        except Exception:  # queue.Empty
            return " ".join(out)
        if msg["msg_type"] in ("stream", "error"):
            content = msg["content"]
            out.append(content.get("text") or f"{content.get('ename')}: {content.get('evalue')}")


def test_an_interrupted_or_killed_notebook_leaves_no_mount_and_no_process(tmp_path):
    """A cell stopped halfway (the interrupt button, or the kernel killed) leaves the host's mount
    table as it was, and the lab's processes end with it."""
    _require_notebook_tools()
    from jupyter_client.manager import KernelManager

    pids_file = tmp_path / "pids"
    before = _mount_table()
    km = KernelManager(kernel_name="mountlab")
    km.start_kernel(cwd=str(NOTEBOOKS))
    kc = km.client()
    try:
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        for how in ("interrupt", "kill"):
            pids_file.unlink(missing_ok=True)
            msg_id = kc.execute(_HANG.replace("PATH", repr(str(pids_file))))
            deadline = time.monotonic() + 30
            while not pids_file.exists() or len(pids_file.read_text().split()) < 2:
                assert time.monotonic() < deadline, f"the lab cell did not start: {_said(kc)}"
                time.sleep(0.05)
            pids = [int(p) for p in pids_file.read_text().split()]
            assert all(_alive(p) for p in pids)
            if how == "interrupt":
                km.interrupt_kernel()
                while True:
                    reply = kc.get_shell_msg(timeout=30)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        break
                assert reply["content"]["status"] == "error"
            else:
                km.shutdown_kernel(now=True)  # SIGKILL
            deadline = time.monotonic() + 10
            while any(_alive(p) for p in pids) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not any(_alive(p) for p in pids), f"after {how}: lab processes still running"
            assert _mount_table() == before, f"after {how}: the host's mount table changed"
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)
