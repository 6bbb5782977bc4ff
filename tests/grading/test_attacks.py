"""Submissions that attack the grader on purpose (``tests/grading/attacks/``), graded by the real
commands as root: ``./workshop grade --format gradescope`` for each, then ``./workshop
grade-class`` on a hostile class (honest, buggy and attacking submissions mixed), graded after,
so that code planted by an earlier grading would run in it.

For each attack: 0 points on the steps it targets (and no more than the same code without the
attack), a status and a reason an instructor understands, none of the secrets in what the learner
gets back. For the whole run: the host's mount table, the canaries (in /tmp, the kit's tree, the
virtualenv, another learner's folder), the kit's files and the grader's outputs unchanged; no
process of an attack still running.

Every attack is graded on the ``native`` backend, and again on ``uml`` (each learner in a User-Mode
Linux guest, ``--backend uml``): there by default (CI) the attacks on what the guest changes (the
host's files through hostfs, where the results are written, processes left behind, secrets read in
the guest) beside the reference and a submission that does nothing; every attack and the whole
hostile class with MOUNTLAB_SLOW=1 (a guest per learner: one to two minutes each on two cores).
``-k uml`` or ``-k native`` runs one backend's share; ``MOUNTLAB_ATTACKS=NAME,...`` grades only
those attacks (with the honest rows).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from mountlab import registry
from mountlab.grading import bytecode, grader
from tests import processes
from tests.grading import attacks, classgen

ROOT = registry.KIT_ROOT
SITE = Path(next((ROOT / ".venv" / "lib").glob("python3*/site-packages"), ROOT / ".venv"))
TIMEOUT = 240  # per submission; the hanging one gets HANG_TIMEOUT
HANG_TIMEOUT = 30
UML_TIMEOUT = 900  # per submission on uml: a guest on a loaded two-core machine
SLOW = os.environ.get("MOUNTLAB_SLOW") == "1"
BACKENDS = ("native", "uml")
UNCONFINED = "ATTACK RAN UNCONFINED"
STEPS = [s.number for s in registry.steps()]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="grades as root, as graders run it")


@dataclass
class Attack:
    targets: tuple[int, ...]  # steps that must earn 0 points, instructor-only checks included
    reason: str  # a regex that the reason of every lost check of those steps matches
    status: str = r"ok$"  # a regex the submission's status matches
    in_class: bool = False  # graded by grade-class (with the honest rows) instead of grade
    never: str = ""  # a regex no reason may match (besides NEVER)
    intact: tuple[int, ...] = ()  # steps wrapped around the reference that must earn all of it


# The check's own process died: its reason blames nothing the learner did, and a subject that can
# bring that about has reached the checker (a signal, a crash of the plumbing).
NEVER = r"the check's process ended without an answer"


ATTACKS = {
    "forge_channel": Attack((1,), r"the process running your code (ended|answered out of turn)",
                            in_class=True),
    # Its own channel gets pickled bytes too: the subject is cut off for breaking it.
    "forge_proc_fd": Attack((1,), r"SystemExit|sent bytes that are not JSON"),
    # An exception named like the grader's own error must not become the grader's verdict.
    "smuggle_payload": Attack((5,), r"parse_volume_spec|returned|accepted|refused|your code raised",
                              never=r"^all checks passed"),
    "escape_writes": Attack((1,), r"."),
    "escape_symlinks": Attack((1,), r"."),
    "patch_checks": Attack((1, 2), r"."),
    "escape_exceptions": Attack((1, 2, 3, 4, 5),
                                r"your code raised \S*(Skipped|Exit|KeyboardInterrupt|"
                                r"GeneratorExit|XFailed|SystemExit)|escaped from your code"),
    "outlive": Attack((1,), r"still running at its end", status=r"error: left processes running"),
    # Step 1 around the reference: a signal that reached the grader would cost a check.
    "signals_ptrace": Attack((3,), r".", intact=(1,)),
    "read_secrets": Attack((1,), r"your code raised ValueError", in_class=True),
    "overwrite_outputs": Attack((1,), r".", in_class=True),
    "plant_code": Attack((1,), r"."),
    "flood_output": Attack((1, 2, 5), r"."),
    "import_time": Attack((1,), r"."),
    "hang": Attack((1,), r".", status=r"timeout$"),
    "fork_bomb": Attack((1,), r".", status=r"ok$|error: left processes running", in_class=True),
    "namespace_tricks": Attack((1,), r"."),
}
HONEST = ("reference", "skeleton", "bug", "noop")
#: Graded on uml without MOUNTLAB_SLOW (CI), with the honest rows the comparisons need: what the
#: guest changes. Writes to the host's files (hostfs as the guest's host uid), the grader's outputs
#: (copied out of the guest at its end), processes left behind (killed before the copy), secrets
#: read inside the guest. A guest per learner takes one to two minutes on two cores.
UML_QUICK = ("escape_writes", "outlive", "overwrite_outputs", "read_secrets")
UML_QUICK_HONEST = ("reference", "noop")


#: ``MOUNTLAB_ATTACKS=flood_output,hang``: grade only these attacks (beside the honest rows),
#: to work on a few on uml without grading every one (``-k`` only picks the assertions).
ONLY = {n.strip() for n in os.environ.get("MOUNTLAB_ATTACKS", "").split(",") if n.strip()}


def graded_here(backend: str) -> tuple[list[str], tuple[str, ...]]:
    """The attacks and the honest submissions graded on ``backend`` in this run."""
    if backend == "native" or SLOW:
        chosen, honest = list(ATTACKS), HONEST
    else:
        chosen, honest = [n for n in ATTACKS if n in UML_QUICK], UML_QUICK_HONEST
    unknown = ONLY - set(ATTACKS)
    if unknown:
        raise pytest.UsageError(f"MOUNTLAB_ATTACKS: no attack named {', '.join(sorted(unknown))}")
    return [n for n in chosen if not ONLY or n in ONLY], honest
BUG = next(b for b in classgen.all_bugs() if b.check.startswith("test_created_directories_are"))


def test_every_attack_folder_is_graded():
    assert sorted(ATTACKS) == attacks.names()
    assert len(ATTACKS) >= 15


# -- the host, before and after -------------------------------------------------------------------

def _mounts() -> list[str]:
    """The mounts grading could change: /, /proc, and anything at or below the kit, the temporary
    folders where grading works, and the virtualenv (other work on this machine mounts elsewhere,
    say a container engine's overlays, and is none of this test's business)."""
    tops = (str(ROOT), "/tmp/mountlab-grade-", "/tmp/mountlab-class-", "/tmp/mountlab-attack-",
            "/tmp/pytest-of-", str(SITE))
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if point in ("/", "/proc", "/tmp") or point.startswith(tops):
            found.append(line)
    return sorted(found)


def _tree(top: Path) -> dict[str, tuple]:
    """Every path of the kit (its virtualenv and bytecode caches included) with what identifies
    its content; pytest's own cache of this run left out."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d not in (".git", ".pytest_cache", ".ruff_cache")]
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, top)
            if rel.startswith("tests/") and "__pycache__" in rel:
                continue  # written by this very pytest run (assertion rewriting)
            st = os.lstat(path)
            found[rel] = (st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns, st.st_ino)
    return found


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


@dataclass
class Host:
    secrets: dict[str, str]  # what must never reach a learner: name -> text
    canaries: dict[Path, bytes]
    canary_dir: Path
    other_learner: Path
    pwned: Path
    sleep_marker: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    tag = uuid.uuid4().hex[:12]
    secrets = {kind: f"mountlab-secret-{kind}-{tag}"
               for kind in ("tmp", "other", "solutions", "hidden", "env")}
    canary_dir = Path(f"/tmp/mountlab-attack-{tag}")
    other = canary_dir / "other-learner"
    files = {
        canary_dir / "canary.txt": secrets["tmp"],
        other / "steps" / "01" / "setup_volume.py": f"# {secrets['other']}\n",
        ROOT / "solutions" / "01" / f"attack-canary-{tag}.txt": secrets["solutions"],
        ROOT / "instructor" / "01" / f"attack-canary-{tag}.txt": secrets["hidden"],
        # The virtualenv is public software that the checker needs and the subject may read
        # (read-only): a file planted there must stay unchanged, but it is no secret.
        SITE / f"mountlab_attack_canary_{tag}.txt": f"public-{tag}",
    }
    mounts, status = _mounts(), _git_status()
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o644)
    canaries = {path: path.read_bytes() for path in files}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOUNTLAB_", "PYTEST_"))}
    # No bytecode written by the grader's own start-up: a new .pyc in the kit is then the attack's.
    env.update(GRADER_API_TOKEN=secrets["env"], PYTHONDONTWRITEBYTECODE="1")
    # The grader compiles the kit's bytecode before it grades anything: done here first, so
    # that a cache that appears or changes later is an attack's.
    bytecode.warm(grader.check_targets())
    tree = _tree(ROOT)
    marker = f"{70000 + int(tag[:4], 16)}.5"  # seconds of the attacks' sleep: found by ps
    h = Host(secrets, canaries, canary_dir, other, canary_dir / "pwned", marker, env)
    h.before = {"mounts": mounts, "tree": tree, "status": status}
    try:
        yield h
    finally:
        for path in files:
            path.unlink(missing_ok=True)
        shutil.rmtree(canary_dir, ignore_errors=True)
        h.after_cleanup = {"mounts": _mounts(), "status": _git_status()}


# -- grading --------------------------------------------------------------------------------------

def _targets(host: Host, outputs: list[str], workdir: Path) -> dict:
    return {"kit": str(ROOT), "site": str(SITE), "canaries": [str(p) for p in host.canaries],
            "canary_dir": str(host.canary_dir), "other_learner": str(host.other_learner),
            "pwned": str(host.pwned), "sleep_marker": host.sleep_marker, "outputs": outputs,
            "pids": [os.getpid(), os.getppid()], "workdir": str(workdir)}


def _timeout(backend: str) -> int:
    return UML_TIMEOUT if backend == "uml" else TIMEOUT


def _grade(name: str, folder: Path, results: Path, host: Host, backend: str) -> dict:
    timeout = HANG_TIMEOUT if name == "hang" else _timeout(backend)
    proc = subprocess.run([str(ROOT / "workshop"), "grade", "--student", str(folder), "--format",
                           "gradescope", "--out", str(results), "--timeout", str(timeout),
                           "--backend", backend],
                          cwd=ROOT, env=host.env, capture_output=True, text=True,
                          timeout=timeout + 120)
    text = results.read_text() if results.exists() else ""
    return {"exit": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
            "text": text, "results": json.loads(text) if text else None}


def _class_submissions(root: Path, honest: tuple[str, ...]) -> None:
    classgen.write_impl(root / "reference", classgen.reference_sources())
    if "skeleton" in honest:
        classgen.write_impl(root / "skeleton", classgen.skeleton_sources())
    if "bug" in honest:
        sources = classgen.reference_sources()
        sources[1] = BUG.source()  # loses the points of one check of step 1 only
        classgen.write_impl(root / "bug", sources)
    # Every function returns None at once: what an attack wrapped around nothing may earn.
    classgen.write_impl(root / "noop", {n: re.sub(r"raise NotImplementedError\(.*\)", "return None",
                                                  text)
                                        for n, text in classgen.skeleton_sources().items()})


@pytest.fixture(scope="module", params=BACKENDS)
def graded(request, host, tmp_path_factory):
    backend = request.param
    here, honest = graded_here(backend)
    tmp = tmp_path_factory.mktemp(f"attacks-{backend}")
    single = [n for n in here if not ATTACKS[n].in_class]
    outcomes: dict[str, dict] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {}
        for name in single:
            results = tmp / "results" / f"{name}.json"
            attacks.build(name, tmp / "single" / name,
                          _targets(host, [str(results)], tmp / "single"))
            futures[name] = pool.submit(_grade, name, tmp / "single" / name, results, host,
                                        backend)
        outcomes.update({name: f.result() for name, f in futures.items()})
    # The hostile class, graded after: whatever an attack above planted would run now.
    klass, reports, gradebook = tmp / "class", tmp / "reports", tmp / "gradebook.csv"
    _class_submissions(klass, honest)
    for name in (n for n in here if ATTACKS[n].in_class):
        outputs = [str(gradebook), str(reports / f"{name}.json"), str(reports / "reference.json")]
        attacks.build(name, klass / name, _targets(host, outputs, klass))
    proc = subprocess.run([str(ROOT / "workshop"), "grade-class", str(klass), "--out",
                           str(gradebook), "--reports", str(reports), "--jobs", "2", "--timeout",
                           str(_timeout(backend)), "--backend", backend], cwd=ROOT, env=host.env,
                          capture_output=True, text=True, timeout=_timeout(backend) * 6)
    with open(gradebook, newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    for name in rows:
        path = reports / f"{name}.json"
        text = path.read_text() if path.exists() else ""
        outcomes[name] = {"exit": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
                          "text": text, "report": json.loads(text) if text else None,
                          "row": rows[name]}
    return {"outcomes": outcomes, "class": proc, "backend": backend, "attacks": here,
            "honest": honest}


# -- what a learner gets back, in either format ---------------------------------------------------

def _checks(outcome: dict) -> list[dict]:
    """(step, nodeid, points, reason, feedback) of each check, from results.json or the report."""
    found = []
    if outcome.get("results") is not None:
        for test in outcome["results"]["tests"]:
            feedback = test.get("output", "")
            # The reason is the first line after the severity's own ("CRITICAL: why ...").
            reason = next((line for line in feedback.split("\n")
                           if not line.startswith("CRITICAL: ")), "")
            found.append({"step": int(test["tags"][0][4:]), "check": test["extra_data"]["check"],
                          "points": test["score"], "passed": test["status"] == "passed",
                          "reason": reason, "feedback": feedback})
    for step in (outcome.get("report") or {}).get("steps", []):
        for check in step["checks"]:
            found.append({"step": step["number"], "check": check["nodeid"],
                          "points": check["points"], "passed": check["passed"],
                          "reason": check.get("reason", ""), "feedback": check.get("output", "")})
    return found


def _backend(outcome: dict) -> str:
    if outcome.get("results") is not None:
        return outcome["results"]["extra_data"].get("backend", "")
    return (outcome.get("report") or {}).get("backend", "")


def _here(graded: dict, name: str) -> dict:
    """The outcome of attack ``name``; skipped when this run did not grade it on this backend."""
    if name not in graded["attacks"]:
        if ONLY and name not in ONLY:
            pytest.skip(f"MOUNTLAB_ATTACKS leaves {name} out")
        pytest.skip(f"on {graded['backend']}, {name} is graded with MOUNTLAB_SLOW=1")
    return graded["outcomes"][name]


def _status(outcome: dict) -> str:
    if outcome.get("results") is not None:
        return outcome["results"]["extra_data"]["status"]
    return outcome["row"]["status"]


def _points(outcome: dict, step: int) -> int:
    return sum(c["points"] for c in _checks(outcome) if c["step"] == step)


def _by_check(outcome: dict) -> dict[str, dict]:
    return {c["check"]: c for c in _checks(outcome)}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_earns_nothing_and_is_explained(graded, host, name):
    """0 points on every check of the targeted steps that needs real work (the checks that code
    doing nothing fails), and no check earns more than the same code without the attack: the
    reference where the attack is wrapped around it, else functions that do nothing."""
    attack = ATTACKS[name]
    outcome = _here(graded, name)
    assert outcome.get("results") or outcome.get("report"), (
        f"no results for {name}: exit {outcome['exit']}\n{outcome['stderr'][-3000:]}")
    assert _backend(outcome) == graded["backend"], f"{name}: graded on {_backend(outcome)!r}"
    checks = _by_check(outcome)
    noop = _by_check(graded["outcomes"]["noop"])
    reference = _by_check(graded["outcomes"]["reference"])
    assert set(checks) == set(noop), f"{name}: not every check was reported"
    wrapped = attacks.wraps_reference(name)
    problems = []  # all of them at once: one failure must not hide another
    over = [f"{nodeid}: {c['points']} points" for nodeid, c in checks.items()
            if c["points"] > (reference if c["step"] in wrapped else noop)[nodeid]["points"]]
    if over:
        problems.append(f"earned more than the same code without the attack: {over}")
    disturbed = [f"{nodeid}: {c['reason']}" for nodeid, c in checks.items()
                 if c["step"] in attack.intact and not c["passed"]]
    if disturbed:
        problems.append(f"disturbed the grading of correct code: {disturbed[:5]}")
    targeted = [c for nodeid, c in checks.items()
                if c["step"] in attack.targets and not noop[nodeid]["passed"]]
    assert targeted
    won = [f"{c['check']}: {c['points']}" for c in targeted if c["points"]]
    if won:
        problems.append(f"earned points on what it attacks: {won}")
    status = _status(outcome)
    if not re.match(attack.status, status):
        problems.append(f"status {status!r} does not match {attack.status!r}")
    never = NEVER + (f"|{attack.never}" if attack.never else "")
    unexplained = [f"{c['check']}: {c['reason'][:300]!r}" for c in targeted
                   if not c["reason"] or not re.search(attack.reason, c["reason"])
                   or re.search(never, c["reason"])]
    if unexplained:
        problems.append("reasons an instructor cannot read:\n" + "\n".join(unexplained[:10]))
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_no_secret_reaches_the_learner(graded, host, name):
    outcome = _here(graded, name)
    texts = {"feedback": outcome["text"], "stdout": outcome["stdout"],
             "stderr": outcome["stderr"]}
    secrets = dict(host.secrets)
    if 1 not in attacks.wraps_reference(name):  # a line of the reference solution of step 1
        secrets["reference"] = "def _missing_directories("
    secrets["hidden checks"] = "an example of hidden checks"
    leaked = [f"{secret} in {where}" for where, text in texts.items()
              for secret, value in secrets.items() if value in text]
    assert not leaked, f"{name} leaked: {leaked}"
    assert UNCONFINED not in outcome["text"], f"{name} ran outside its sandbox"


def test_feedback_stays_small(graded):
    for name, outcome in graded["outcomes"].items():
        assert len(outcome["text"]) < 2_000_000, f"{name}: {len(outcome['text'])} bytes"


def test_hostile_class_grades_every_honest_row_right(graded):
    proc = graded["class"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcomes = graded["outcomes"]
    full = classgen.full()
    assert [_points(outcomes["reference"], s) for s in STEPS] == full
    assert outcomes["reference"]["row"]["status"] == "ok"
    # On uml without MOUNTLAB_SLOW, the class has no skeleton or bug rows: the uml backend's own
    # tests grade those (tests/backends/test_uml_confined.py).
    if "skeleton" in graded["honest"]:
        assert [_points(outcomes["skeleton"], s) for s in STEPS] == [0] * len(STEPS)
    if "bug" in graded["honest"]:
        bug = [_points(outcomes["bug"], s) for s in STEPS]
        assert bug[1:] == full[1:] and bug[0] < full[0], bug
    assert set(outcomes) == set(graded["attacks"]) | set(graded["honest"])
    assert {_backend(o) for o in outcomes.values()} == {graded["backend"]}


def test_the_host_is_unchanged(graded, host):
    assert _mounts() == host.before["mounts"], "the mount table changed"
    tree = _tree(ROOT)
    changed = {k for k in host.before["tree"].keys() | tree.keys()
               if host.before["tree"].get(k) != tree.get(k)}
    assert not changed, f"the kit's tree changed: {sorted(changed)[:20]}"
    for path, content in host.canaries.items():
        assert path.read_bytes() == content, f"{path} changed"
        assert path.stat().st_mode & 0o7777 == 0o644, f"{path}: mode changed"
    assert sorted(os.listdir(host.canary_dir)) == ["canary.txt", "other-learner"]
    assert not host.pwned.exists(), f"code planted or smuggled by an attack ran: {host.pwned}"
    for home in ("/root", "/tmp"):
        assert not Path(home, ".local/lib/python3.11/site-packages/zz_attack.pth").exists()
    assert not processes.naming(host.sleep_marker), "a process of an attack is still running"
    status = [line for line in _git_status().splitlines() if "attack-canary-" not in line]
    assert status == host.before["status"].splitlines(), "the kit's git status changed"
