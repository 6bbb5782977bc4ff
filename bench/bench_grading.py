"""How fast the graders are: one learner's five steps, and a class of up to 100 submissions.

    sudo .venv/bin/python bench/bench_grading.py [--sizes 25,50,100] [--jobs N] [--runs 3]
                                                 [--json FILE] [--check] [--baseline DIR]

Measures (wall time):

- one learner: ``grade_submission`` of the reference solutions (the whole grader: copy, jail, one
  pytest run of the five steps, reports), the median of ``--runs``; beside it a bare
  ``pytest steps --impl solutions`` (the checks alone), and the ratio of the two (the grader's
  overhead);
- a class: ``grade-class`` on generated classes of each size (the reference, the skeletons and the
  known-buggy variants of ``tests/bugs`` in turn: well-behaved submissions), with ``--jobs``
  (default: ``grade-class``'s, twice the number of CPUs); the time per submission at each size,
  and how it grows: (time per submission at the largest size) / (at the smallest): 1.0 is
  linear.

With ``--baseline DIR`` (another checkout of the kit, say the previous design: ``git worktree add
DIR COMMIT``), one learner is graded by both kits in turn, in the same run, and the ratio printed.

CPU seconds are counted by a cgroup (``bench/cpu_meter.py``): every process of the work, the
subjects that the grader's zygote forks and nobody waits for included.

Targets: one learner at most 10 s, and at most 1.5x the baseline's; 100 submissions at most
120 s (on 2 CPUs); growth at most 1.25.
``--check`` exits 1 when one is missed. Needs root (the checks mount). Results depend on the load
of the machine: run it on an otherwise idle one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mountlab import registry  # noqa: E402
from mountlab.grading import classroom, grader, report  # noqa: E402
from tests.grading import classgen  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpu_meter  # noqa: E402

TARGETS = {"one_learner_s": 10.0, "class_100_s": 120.0, "growth": 1.25, "vs_baseline": 1.5}


def bare_pytest() -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOUNTLAB_")}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # as the grader runs it: a fair comparison
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pytest", "steps", "--impl", "solutions", "-q",
                    "-p", "no:cacheprovider"], cwd=ROOT, env=env, capture_output=True)
    return time.monotonic() - started


def _grade_with(kit: Path) -> float:
    """One learner (the reference) graded by the kit in ``kit``, in a fresh interpreter."""
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from pathlib import Path; "
            "from mountlab.grading import grader; t = time.monotonic(); "
            "o = grader.grade_submission(Path(sys.argv[1], 'solutions'), student='reference'); "
            "print(time.monotonic() - t, o.status)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOUNTLAB_")}
    out = subprocess.run([sys.executable, "-c", code, str(kit)], cwd=kit, env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    if out[1:] != ["ok"]:
        raise SystemExit(f"{kit}: the reference did not grade: {' '.join(out[1:])}")
    return float(out[0])


def side_by_side(baseline: Path, runs: int) -> dict:
    """One learner, this kit and the baseline alternately (the same load for both)."""
    ours, theirs, cpu_ours, cpu_theirs = [], [], [], []
    for _ in range(runs):
        for kit, times, cpus in ((ROOT, ours, cpu_ours), (baseline, theirs, cpu_theirs)):
            with cpu_meter.measure() as cpu:
                times.append(_grade_with(kit))
            cpus.append(cpu[0])
    return {"ours_s": statistics.median(ours), "baseline_s": statistics.median(theirs),
            "ratio": statistics.median(ours) / statistics.median(theirs), "baseline": str(baseline),
            "cpu_ours_s": statistics.median(cpu_ours),
            "cpu_baseline_s": statistics.median(cpu_theirs)}


def one_learner(runs: int) -> dict:
    times, bare = [], []
    for _ in range(runs):
        started = time.monotonic()
        outcome = grader.grade_submission(ROOT / "solutions", student="reference")
        times.append(time.monotonic() - started)
        if outcome.status != "ok":
            raise SystemExit(f"the reference did not grade: {outcome.status}")
        bare.append(bare_pytest())
    return {"grade_s": statistics.median(times), "bare_pytest_s": statistics.median(bare),
            "runs": runs}


def a_class(size: int, jobs: int, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="mountlab-bench-") as tmp:
        classgen.make_class(Path(tmp, "class"), size, hazards=False)
        started = time.monotonic()
        with cpu_meter.measure() as measured:
            outcomes, left = classroom.grade_class(Path(tmp, "class"), jobs=jobs, timeout=timeout)
        elapsed = time.monotonic() - started
        cpu = measured[0]
    bad = [o.student for o in outcomes if not o.status.startswith(classgen.BUG_STATUSES)]
    return {"size": size, "jobs": jobs, "seconds": elapsed, "per_submission_s": elapsed / size,
            "cpu_per_submission_s": cpu / size,
            "not_ok": bad, "mounts_left": left,
            "submission_s_median": statistics.median(o.duration for o in outcomes)}


def show(result: dict) -> None:
    one = result["one_learner"]
    rows = [("one learner, whole grader (median)", f"{one['grade_s']:.2f} s",
             f"<= {TARGETS['one_learner_s']:g} s"),
            ("one learner, bare pytest steps", f"{one['bare_pytest_s']:.2f} s", ""),
            ("grader / bare pytest", f"{one['grade_s'] / one['bare_pytest_s']:.2f}x", "")]
    for c in result["classes"]:
        rows.append((f"class of {c['size']} ({c['jobs']} jobs)",
                     f"{c['seconds']:.1f} s, {c['per_submission_s']:.2f} s/submission, "
                     f"median {c['submission_s_median']:.1f} s each, "
                     f"{c['cpu_per_submission_s']:.2f} CPU s each",
                     f"<= {TARGETS['class_100_s']:g} s" if c["size"] == 100 else ""))
    rows.append(("growth (s/submission largest / smallest)", f"{result['growth']:.2f}",
                 f"<= {TARGETS['growth']:g}"))
    if "side_by_side" in result:
        pair = result["side_by_side"]
        rows.append(("one learner: this kit / baseline (medians)",
                     f"{pair['ours_s']:.2f} s / {pair['baseline_s']:.2f} s = {pair['ratio']:.2f}x",
                     f"<= {TARGETS['vs_baseline']:g}x"))
        rows.append(("  the same in CPU seconds (medians)",
                     f"{pair['cpu_ours_s']:.2f} s / {pair['cpu_baseline_s']:.2f} s = "
                     f"{pair['cpu_ours_s'] / pair['cpu_baseline_s']:.2f}x", ""))
    if report.fancy():
        from rich.console import Console
        from rich.table import Table

        table = Table(title="mountlab grading benchmark")
        for name in ("measure", "result", "target"):
            table.add_column(name)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
    else:
        for row in rows:
            print(f"{row[0]:44} {row[1]:48} {row[2]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25,50,100")
    parser.add_argument("--jobs", type=int, default=classroom.default_jobs())
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=grader.DEFAULT_TIMEOUT)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout of the kit to compare one learner with")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_grading: run it as root (sudo): the checks mount", file=sys.stderr)
        return 2
    sizes = sorted(int(s) for s in args.sizes.split(","))
    load_before = os.getloadavg()
    result = {"machine": {"cpus": classroom.cpus(), "load_before": load_before},
              "steps": [s.number for s in registry.steps()],
              "one_learner": one_learner(args.runs),
              "classes": [a_class(n, args.jobs, args.timeout) for n in sizes]}
    if args.baseline:
        result["side_by_side"] = side_by_side(args.baseline.resolve(), args.runs)
    result["machine"]["load_after"] = os.getloadavg()
    first, last = result["classes"][0], result["classes"][-1]
    result["growth"] = last["per_submission_s"] / first["per_submission_s"]
    show(result)
    print(f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} "
          f"({result['machine']['cpus']} CPUs): other work on the machine slows every figure "
          f"but the CPU seconds, counted by {cpu_meter.method()}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    missed = []
    if result["one_learner"]["grade_s"] > TARGETS["one_learner_s"]:
        missed.append("one learner")
    for c in result["classes"]:
        if c["size"] == 100 and c["seconds"] > TARGETS["class_100_s"]:
            missed.append("100 submissions")
        if c["not_ok"] or c["mounts_left"]:
            missed.append(f"class of {c['size']}: {c['not_ok']} {c['mounts_left']}")
    if result.get("side_by_side", {}).get("ratio", 0) > TARGETS["vs_baseline"]:
        missed.append("one learner against the baseline")
    if len(sizes) > 1 and result["growth"] > TARGETS["growth"]:
        missed.append("linear growth")
    if missed:
        print("missed: " + "; ".join(missed), file=sys.stderr)
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
