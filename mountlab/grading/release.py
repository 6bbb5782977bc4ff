"""Write the learner copy of the kit, then prove it works on its own.

The copy is the kit less what only instructors may have: the reference ``solutions/``, the
instructor-only checks (``instructor/``), the kit's own tests (their known-buggy variants are edits
of the solutions), benchmarks and CI. Notebooks keep their outputs and the READMEs are the same.
The GitHub Classroom workflow goes to ``.github/workflows/classroom.yml``.

The verification runs in OUTDIR with the instructor's tree hidden (``jail --hide``): the checks of
every step are collected and run there, and the untouched skeletons score zero.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mountlab import registry
from mountlab.grading.grader import INSTRUCTOR_DIR

# Top-level entries that stay with the instructor.
EXCLUDE_TOP = {"solutions", INSTRUCTOR_DIR, "tests", "bench", ".ci", ".git", ".github", ".venv",
               ".benchmarks", ".pytest_cache", ".ruff_cache", ".mypy_cache", "build", "dist"}
EXCLUDE_PATHS = {"docs/grading.md"}  # the instructor's guide
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints", ".ruff_cache"}
WORKFLOW_SOURCE = Path(".github/classroom/classroom.yml")
WORKFLOW_TARGET = Path(".github/workflows/classroom.yml")


class ReleaseError(Exception):
    pass


def _wanted(rel: Path) -> bool:
    parts = rel.parts
    return bool(parts) and parts[0] not in EXCLUDE_TOP and rel.as_posix() not in EXCLUDE_PATHS \
        and not SKIP_PARTS & set(parts) and not parts[0].endswith(".egg-info") \
        and rel.suffix not in (".pyc", ".tmp") and rel.name != ".mountlab-pyproject"


def kit_files(kit: Path = registry.KIT_ROOT) -> list[Path]:
    """The kit's files (relative) that belong in the learner copy: those git knows (tracked or
    not ignored) when the kit is a git checkout, else every file."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=kit, capture_output=True, check=True)
        listed = [Path(p) for p in out.stdout.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        listed = [p.relative_to(kit) for p in kit.rglob("*")]
    return sorted(p for p in listed if _wanted(p) and (kit / p).is_file()
                  and not (kit / p).is_symlink())


def write(outdir: Path, kit: Path = registry.KIT_ROOT) -> list[Path]:
    """Copy the learner's files into ``outdir`` (which must not exist or be empty)."""
    outdir = outdir.resolve()
    kit = kit.resolve()
    if outdir == kit or kit in outdir.parents or outdir in kit.parents:
        raise ReleaseError(f"{outdir}: write the learner copy outside the kit ({kit})")
    if outdir.exists() and any(outdir.iterdir()):
        raise ReleaseError(f"{outdir} exists and is not empty: choose a new folder")
    files = kit_files(kit)
    for rel in files:
        target = outdir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(kit / rel, target)  # keeps the executable bits of ./workshop, ./container
    workflow = kit / WORKFLOW_SOURCE
    if workflow.is_file():
        (outdir / WORKFLOW_TARGET).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(workflow, outdir / WORKFLOW_TARGET)
        files.append(WORKFLOW_TARGET)
    return files


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(outdir: Path, kit: Path = registry.KIT_ROOT, timeout: float = 600) -> Verification:
    """Check the learner copy on its own: nothing of the instructor's, every step's checks run
    there with the instructor's tree hidden, and the skeletons score zero."""
    outdir, kit = outdir.resolve(), kit.resolve()
    result = Verification()
    for name in ("solutions", INSTRUCTOR_DIR, "tests"):
        if (outdir / name).exists():
            result.problems.append(f"{name}/ is in the learner copy")
    for test in (outdir / "steps").rglob("test_*.py"):
        if "hidden=True" in test.read_text(errors="replace"):
            result.problems.append(f"{test.relative_to(outdir)} holds an instructor-only check")
    for s in registry.steps():
        if not (outdir / "steps" / s.folder / s.filename).is_file():
            result.problems.append(f"steps/{s.folder}/{s.filename} is missing")
    with tempfile.TemporaryDirectory(prefix="mountlab-release-") as tmp:
        out = Path(tmp, "grade.json")
        # The learner copy's own ./workshop grade, its own mountlab, the instructor's tree
        # covered by an empty folder: it must need nothing from there.
        inner = [sys.executable, "-c",
                 "import mountlab, sys; print('mountlab from', mountlab.__file__, "
                 "file=sys.stderr); from mountlab.workshop.cli import main; sys.exit(main())",
                 "grade", "--format", "json", "--out", str(out), "--timeout", str(timeout)]
        # OUTDIR is listed as writable only to stay visible: the jail covers /tmp with a tmpfs.
        command = [sys.executable, "-m", "mountlab.grading.jail", tmp, str(outdir), "--hide",
                   str(kit), "--",
                   *inner]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MOUNTLAB_", "PYTEST_"))}
        env.update(PYTHONPATH=str(outdir), PYTHONDONTWRITEBYTECODE="1")
        proc = subprocess.run(command, cwd=outdir, env=env, capture_output=True, text=True,
                              timeout=timeout + 60)
        where = [line for line in proc.stderr.splitlines() if line.startswith("mountlab from")]
        if not where or not where[0].endswith(str(outdir / "mountlab" / "__init__.py")):
            result.problems.append(f"the copy did not use its own mountlab: {where or proc.stderr}")
        if not out.exists():
            result.problems.append(f"grading the learner copy wrote no report (exit "
                                   f"{proc.returncode}): {proc.stderr[-2000:]}")
            return result
        report = json.loads(out.read_text())
    _check_report(report, result)
    return result


def _check_report(report: dict, result: Verification) -> None:
    if report.get("status") != "ok":
        result.problems.append(f"grading the learner copy: {report.get('status')}")
    got = {s["number"]: s for s in report.get("steps", [])}
    for s in registry.steps():
        step = got.get(s.number)
        if step is None:
            result.problems.append(f"step {s.number}: no check ran in the learner copy")
            continue
        if step["max_points"] != s.points:
            result.problems.append(f"step {s.number}: its checks are worth {step['max_points']} "
                                   f"points there, steps.toml says {s.points}")
        if step.get("hidden_max_points"):
            result.problems.append(f"step {s.number}: instructor-only checks ran in the copy")
        passed = [c["name"] for c in step["checks"] if c["passed"]]
        if passed:
            result.problems.append(f"step {s.number}: the skeleton passes {', '.join(passed)}")
        count = len(step["checks"])
        result.facts.append(f"{s.label()}: {count} checks ran, skeleton {step['points']}/"
                            f"{step['max_points']}")
    if report.get("total"):
        result.problems.append(f"the untouched skeletons score {report['total']}, not 0")
