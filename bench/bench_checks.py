"""How long the graded checks of each step take with the reference solutions, beside two peers run
the same way: the bare interpreter (``python -c pass``) and pytest running one trivial test.

    .venv/bin/python bench/bench_checks.py [--runs N] [--suite]

The budget is 3 s of wall time per step on a 2-core machine; ``--suite`` also times the whole
self-test suite (``./workshop test``, budget 5 minutes), once.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mountlab import registry  # noqa: E402

STEP_BUDGET = 3.0
SUITE_BUDGET = 300.0


def wall(command: list[str], runs: int, cwd: Path = ROOT) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description="time the graded checks")
    parser.add_argument("--runs", type=int, default=3, help="runs per measure (median)")
    parser.add_argument("--suite", action="store_true", help="also time ./workshop test")
    args = parser.parse_args()
    py = sys.executable
    bare = wall([py, "-c", "pass"], args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "test_one.py").write_text("def test_one():\n    pass\n")
        trivial = wall([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:nbval",
                        "test_one.py"],
                       args.runs, cwd=Path(tmp))
    print(f"peers: python -c pass {bare:.3f} s; pytest with one trivial test {trivial:.3f} s")
    print(f"{'step':<40}{'wall s':>8}{'x python':>10}{'x pytest':>10}{'budget':>8}")
    over = False
    for step in registry.steps():
        t = wall([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"steps/{step.folder}",
                  "--impl", "solutions"], args.runs)
        over |= t > STEP_BUDGET
        print(f"{step.label():<40}{t:>8.2f}{t / bare:>10.1f}{t / trivial:>10.1f}"
              f"{'ok' if t <= STEP_BUDGET else 'OVER':>8}")
    if args.suite:
        t = wall([str(ROOT / "workshop"), "test", "-q"], 1)
        over |= t > SUITE_BUDGET
        print(f"{'./workshop test':<40}{t:>8.1f}{t / bare:>10.0f}{t / trivial:>10.0f}"
              f"{'ok' if t <= SUITE_BUDGET else 'OVER':>8}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
