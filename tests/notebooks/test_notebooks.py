"""The walkthroughs in notebooks/ (English) and notebooks/fr/ (French): committed with their
outputs, and those outputs still come out.

- Each notebook is committed executed: every code cell run, in order, with its outputs, and no
  error; a stripped notebook would pass ``pytest --nbval`` vacuously, so this is checked apart.
- Each ends with a "What you learned" cell ("Ce qu'il faut retenir") that names the step using it.
- The French notebooks follow the English ones (same code cells and sections, one for one) and
  their text is French.
- ``pytest --nbval`` (strict: every output compared, what varies sanitized by
  notebooks/sanitize.cfg, no cell ignored) passes for each language, its four notebooks together
  take under 60 s, the French about as long as the English, and the host's mount table is the
  same after each run as before it.
- The same runs as a normal user (``nobody``, through a user namespace) give the same outputs,
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
from functools import cache
from pathlib import Path

import pytest

from tests import reachable

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SANITIZE = NOTEBOOKS / "sanitize.cfg"
FOLDERS = {"en": NOTEBOOKS, "fr": NOTEBOOKS / "fr"}
# Each language's four notebooks, in the same order: the French one at i follows the English one.
EXPECTED = {
    "en": ["01-bind-mounts.ipynb", "02-unmount-and-ebusy.ipynb",
           "03-debugging-with-findmnt.ipynb", "04-volumes-end-to-end.ipynb"],
    "fr": ["01-bind-mounts.ipynb", "02-demontage-et-ebusy.ipynb",
           "03-deboguer-avec-findmnt.ipynb", "04-volumes-de-bout-en-bout.ipynb"],
}
ALL = [(lang, name) for lang, names in EXPECTED.items() for name in names]
LEARNED = {"en": "## What you learned", "fr": "## Ce qu'il faut retenir"}
BUDGET = 60.0  # seconds, one language's four notebooks together
SAME_TIME = (1.5, 10.0)  # the French run may take at most 1.5 x the English one + 10 s (noise)
NORMAL_USER = "nobody"
USER_PYTHON_ENV = "MOUNTLAB_NB_USER_PYTHON"  # a Python the normal user may run, with the deps


def _nbval_args(lang: str) -> list[str]:
    """The same strict command for each language, on that language's four notebooks."""
    folder = FOLDERS[lang].relative_to(ROOT)
    return ["--nbval", *(f"{folder}/{name}" for name in EXPECTED[lang]),
            "--nbval-sanitize-with", "notebooks/sanitize.cfg", "--nbval-cell-timeout", "60",
            "-p", "no:cacheprovider"]


def _load(lang: str, name: str) -> dict:
    return json.loads((FOLDERS[lang] / name).read_text(encoding="utf-8"))


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _mount_table() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


# -- what is committed -------------------------------------------------------------------------

@pytest.mark.parametrize("lang", EXPECTED)
def test_the_four_notebooks_are_there(lang):
    assert sorted(p.name for p in FOLDERS[lang].glob("*.ipynb")) == EXPECTED[lang]


@pytest.mark.parametrize(("lang", "name"), ALL)
def test_committed_executed_with_outputs(lang, name):
    nb = _load(lang, name)
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


@pytest.mark.parametrize(("lang", "name"), ALL)
def test_no_output_ignored_or_skipped(lang, name):
    # What varies is sanitized (notebooks/sanitize.cfg); whole cells are never left out.
    for cell in _code_cells(_load(lang, name)):
        text = _text(cell) + " ".join(cell.get("metadata", {}).get("tags", []))
        for marker in ("NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP", "NBVAL_RAISES_EXCEPTION"):
            assert marker.lower() not in text.lower(), f"{name}: {marker} in a cell"


@pytest.mark.parametrize(("lang", "name"), ALL)
def test_ends_with_what_you_learned(lang, name):
    last = _load(lang, name)["cells"][-1]
    text = _text(last)
    assert last["cell_type"] == "markdown" and LEARNED[lang] in text, (
        f"{name} must end with a '{LEARNED[lang]}' markdown cell")
    assert re.search(r"\bsteps/0[1-5]\b", text), f"{name}: say which step uses it (steps/NN)"


def _outline(nb: dict) -> list[str]:
    """The notebook's shape: a 'code' or 'md' per cell, and the number of each '## N.' section."""
    shape = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            shape.append("code")
        else:
            shape.append("md " + " ".join(re.findall(r"(?m)^## (\d+)\.", _text(cell))))
    return shape


@pytest.mark.parametrize("index", range(4))
def test_the_french_notebook_follows_the_english_one(index):
    en, fr = EXPECTED["en"][index], EXPECTED["fr"][index]
    assert _outline(_load("fr", fr)) == _outline(_load("en", en)), (
        f"fr/{fr} and {en} differ in their cells or numbered sections: a change to one "
        "walkthrough goes into the other too")
    labs = {lang: re.findall(r"(?m)^(?:\S.*= )?lab\((\w+)", "\n".join(
        _text(c) for c in _code_cells(_load(lang, name))))
        for lang, name in (("en", en), ("fr", fr))}
    assert labs["fr"] == labs["en"], (
        f"fr/{fr} does not run the same labs, in the same order, as {en}: {labs}")


# Frequent short words that exist in one language only: enough to tell a French cell from an
# English one (code, paths, errno and command names count for neither).
_FRENCH = set("le la les un une des du de et est sont dans pour pas que qui sur avec ce ces "
              "son sa ses il elle au aux ou mais donc votre vous".split())
_ENGLISH = set("the an and is are in for not that which with this these its it to of your you "
               "from but so".split())


def _words(markdown: str) -> list[str]:
    """The prose's words, without code (fenced or inline)."""
    prose = re.sub(r"```.*?```|`[^`]*`", " ", markdown, flags=re.S)
    return re.findall(r"[a-zà-ÿ]+", prose.lower())


@pytest.mark.parametrize("name", EXPECTED["fr"])
def test_the_french_notebooks_are_written_in_french(name):
    for i, cell in enumerate(_load("fr", name)["cells"], 1):
        if cell["cell_type"] != "markdown":
            continue
        words = _words(_text(cell))
        french = sum(w in _FRENCH for w in words)
        english = sum(w in _ENGLISH for w in words)
        assert french > 2 * english, (
            f"fr/{name}, cell {i} reads as English ({french} French stop words, {english} "
            f"English ones): write it in French\n{_text(cell)[:300]}")


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


@cache
def _strict_run(lang: str) -> tuple[subprocess.CompletedProcess, float, bool]:
    """One strict ``pytest --nbval`` run of a language's notebooks (once per test session, shared
    by the tests that need it): the result, its seconds, and whether the host's mount table is
    the same after it as before it."""
    before = _mount_table()
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", *_nbval_args(lang)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - start
    return proc, seconds, _mount_table() == before


def _summary(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"


@pytest.mark.parametrize("lang", EXPECTED)
def test_nbval_strict_passes_fast_and_leaves_the_mount_table(lang, capsys):
    _require_notebook_tools()
    proc, seconds, unchanged = _strict_run(lang)
    with capsys.disabled():
        print(f"\n[notebooks] pytest --nbval, the four {lang} ones, as uid {os.geteuid()}: "
              f"{seconds:.1f} s")
    assert proc.returncode == 0, _summary(proc)
    assert re.search(r"\b\d+ passed\b", proc.stdout) and " failed" not in proc.stdout, \
        _summary(proc)
    assert unchanged, f"the host's mount table changed during pytest --nbval ({lang})"
    assert seconds < BUDGET, (
        f"the four {lang} notebooks took {seconds:.1f} s (budget {BUDGET:.0f} s)")


def test_the_french_notebooks_take_about_as_long_as_the_english_ones():
    _require_notebook_tools()
    (en, en_seconds, _), (fr, fr_seconds, _) = _strict_run("en"), _strict_run("fr")
    if en.returncode or fr.returncode:
        pytest.skip("a strict run failed: test_nbval_strict_passes_fast_... says why")
    factor, slack = SAME_TIME
    assert fr_seconds <= factor * en_seconds + slack, (
        f"pytest --nbval took {fr_seconds:.1f} s for the French notebooks and {en_seconds:.1f} s "
        f"for the English ones: more than {factor} x + {slack:.0f} s")


def _as_user(command: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    # reachable: the kit may sit in a folder others cannot enter (root's home, on a fresh VM)
    argv = ["su", NORMAL_USER, "-s", "/bin/sh", "-c",
            f"cd {shlex.quote(str(ROOT))} && env -i {assignments} {command}"]
    return subprocess.run(reachable.command(argv), capture_output=True, text=True,
                          timeout=timeout)


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


@pytest.mark.parametrize("lang", EXPECTED)
def test_nbval_as_a_normal_user_gives_the_same_outputs(lang, capsys):
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
        first = FOLDERS[lang] / EXPECTED[lang][0]
        if _as_user(f"test -r {shlex.quote(str(first))}", env).returncode:
            pytest.skip(f"{NORMAL_USER} cannot read {FOLDERS[lang]} (a checkout under a private "
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
        proc = _as_user(" ".join(shlex.quote(a) for a in [python, "-m", "pytest", "-q",
                                                            *_nbval_args(lang)]),
                        env, timeout=600)
        seconds = time.monotonic() - start
        after = _mount_table()
        with capsys.disabled():
            print(f"\n[notebooks] pytest --nbval, the four {lang} ones, as {NORMAL_USER}: "
                  f"{seconds:.1f} s")
        assert proc.returncode == 0, _summary(proc)
        assert after == before, (
            f"the host's mount table changed during the normal user's run ({lang})")
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


# -- opening them ----------------------------------------------------------------------------------

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("lang", EXPECTED)
def test_workshop_notebook_picks_the_folder_of_the_language(lang, monkeypatch):
    import argparse

    from mountlab.workshop import notebook

    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "MOUNTLAB_LANG"):
        monkeypatch.delenv(name, raising=False)
    args = argparse.Namespace(lang=lang, ip=None, port=8888, extra=[])
    assert notebook.folder(args) == FOLDERS[lang]
    assert f"--ServerApp.root_dir={FOLDERS[lang]}" in notebook.command(args)
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")  # no --lang: the locale decides
    assert notebook.folder(argparse.Namespace(lang=None)) == FOLDERS["fr"]


def test_workshop_notebook_lang_fr_serves_the_french_notebooks(tmp_path):
    """``./workshop notebook --lang fr`` serves notebooks/fr/ (whose kernels then run there, where
    ``import labkit`` finds the French one): asked of the running JupyterLab."""
    _require_notebook_tools()
    pytest.importorskip("jupyterlab")
    import urllib.request

    port, token = _free_port(), "mountlab-test"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "HOME": str(tmp_path)}
    log = open(tmp_path / "jupyterlab.log", "w+")  # a file: a full pipe would stall the server
    server = subprocess.Popen([sys.executable, "-m", "mountlab", "notebook", "--lang", "fr",
                               "--port", str(port), "--no-browser",
                               f"--ServerApp.token={token}"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token={token}",
                                            timeout=5) as reply:
                    listing = json.load(reply)
                break
            except OSError:
                log.seek(0)
                assert server.poll() is None, f"JupyterLab ended: {log.read()[-2000:]}"
                assert time.monotonic() < deadline, "JupyterLab did not answer within 60 s"
                time.sleep(0.3)
        served = sorted(item["name"] for item in listing["content"]
                        if item["type"] == "notebook")
        assert served == EXPECTED["fr"]
    finally:
        server.kill()  # no kernel was started, and its runtime files are in tmp_path
        server.wait()
        log.close()
