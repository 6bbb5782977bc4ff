"""How long ``./workshop status`` takes to answer, with the untouched skeletons and with the
reference solutions installed as the learner's code (``MOUNTLAB_IMPL=solutions``), beside
``python3 -c pass`` (the kit's interpreter) run the same way.

    .venv/bin/python bench/bench_status.py [--runs N] [--keep-env]

Budget: under 2 s of wall time for each, on a 2-core machine (issue 4). ``status`` grades to find
out, so this is the time of a full grading of the five steps. Each figure is the median of N runs
(default 5) after one untimed warm-up run (a learner's first run writes Python's bytecode caches,
as any first run does).

``PYTHONDONTWRITEBYTECODE`` is dropped from the environment unless ``--keep-env``: a learner's shell
does not set it, and without bytecode caches pytest rewrites the checks' asserts on every run
(about 0.2 s of CPU per worker). Results depend on the machine's load: the load average is printed,
run it on an otherwise idle machine. Exit status 1 when a budget is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 2.0


def wall(command: list[str], env: dict[str, str], runs: int) -> tuple[float, float, int]:
    """(median, min) wall seconds over ``runs`` after one warm-up, and the last exit status."""
    subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    times, status = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        status = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL).returncode
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), status


def _works(python: Path, env: dict[str, str]) -> bool:
    """The kit's virtualenv runs the kit, and ./workshop will not rebuild it first."""
    stamp = python.parent.parent / ".mountlab-pyproject"
    try:
        with open(ROOT / "pyproject.toml", "rb") as pyproject:
            want = subprocess.run(["cksum"], stdin=pyproject, capture_output=True,
                                  text=True).stdout.strip()
        fresh = stamp.read_text().strip() == want
        return fresh and subprocess.run([str(python), "-c", "import mountlab.workshop.cli"],
                                        cwd=ROOT, env=env, capture_output=True).returncode == 0
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description="time ./workshop status")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measure (median)")
    parser.add_argument("--keep-env", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE if it is set")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "MOUNTLAB_IMPL"}
    if not args.keep_env:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    venv_py = ROOT / ".venv" / "bin" / "python"
    if _works(venv_py, env):
        py, workshop = str(venv_py), [str(ROOT / "workshop"), "status"]
    else:  # no usable .venv: ./workshop would first (re)build it, which is not what we time
        py, workshop = sys.executable, [sys.executable, "-m", "mountlab", "status"]
        print(f"{venv_py} is missing or broken: timing {sys.executable} -m mountlab status")
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.2f}; {args.runs} runs each (median, min); "
          f"PYTHONDONTWRITEBYTECODE {'set' if env.get('PYTHONDONTWRITEBYTECODE') else 'unset'}")
    bare, bare_min, _ = wall([py, "-c", "pass"], env, args.runs)
    print(f"{'python3 -c pass':<44}{bare:>8.3f} s{bare_min:>8.3f} s")
    over = False
    for name, extra in (("./workshop status, skeletons", {}),
                        ("./workshop status, solutions as the learner's code",
                         {"MOUNTLAB_IMPL": "solutions"})):
        median, fastest, status = wall(workshop, {**env, **extra}, args.runs)
        ok = median < BUDGET
        over |= not ok
        print(f"{name:<44}{median:>8.3f} s{fastest:>8.3f} s  {median / bare:>5.1f}x python  "
              f"{'ok' if ok else 'OVER'} (budget {BUDGET:g} s; exit {status})")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
