"""Page faults of the five steps' checks in a User-Mode Linux guest, this checkout beside another.

    sudo .venv/bin/python bench/bench_guest_faults.py [--baseline OTHER_CHECKOUT] [--runs 1]

In a guest, a page fault costs about a tenth of a millisecond (a round trip between host
processes through ptrace), and the checks' time there follows their faults; the count does not
follow the machine's load, which makes the wall and CPU times of ``bench_uml.py`` swing by half
from one hour to the next. So two versions of the kit are compared here by the faults the guest
kernel counts (``pgfault`` in the guest's ``/proc/vmstat``, before and after) while it runs the
checks of the five steps and the instructor's on the reference solutions: one pytest run, as
guest root, with the kit's own sandbox (the run's checker, a subject per check). Each checkout
uses its own ``.venv``. Needs ``user-mode-linux``.
"""

from __future__ import annotations

import argparse
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mountlab.backends import uml  # noqa: E402

_TARGETS = "steps/01 instructor/01 steps/02 steps/03 steps/04 steps/05"


def faults(kit: Path) -> tuple[int, int]:
    """The guest's page faults during one pytest run of ``kit``'s checks, and the checks run."""
    q = shlex.quote
    script = (
        "f0=$(sed -n 's/^pgfault //p' /proc/vmstat); "
        f"cd {q(str(kit))} && {q(str(kit / '.venv/bin/python'))} -m pytest {_TARGETS} "
        f"--impl {q(str(kit / 'solutions'))} "
        "--basetemp /tmp/checks -p no:cacheprovider -q > /tmp/pytest.out 2>&1; "
        "f1=$(sed -n 's/^pgfault //p' /proc/vmstat); "
        'echo "faults $((f1 - f0))"; tail -1 /tmp/pytest.out')
    with tempfile.TemporaryFile() as out:
        result = uml.run([["sh", "-c", script]], cwd="/", timeout=1200, visible=[str(kit)],
                         env={"PATH": "/usr/bin:/bin", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
                         stdout=out, stderr=subprocess.DEVNULL)
        out.seek(0)
        text = out.read().decode(errors="replace")
    found = re.search(r"faults (\d+)", text)
    passed = re.search(r"(\d+) passed", text)
    if result.status != 0 or not found or not passed:
        raise SystemExit(f"{kit}: the checks did not run in the guest:\n{text[-2000:]}")
    return int(found.group(1)), int(passed.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout of the kit (with its .venv) to compare with")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    kits = [ROOT] + ([args.baseline.resolve()] if args.baseline else [])
    counts: dict[Path, list[int]] = {kit: [] for kit in kits}
    checks: dict[Path, int] = {}
    for _ in range(args.runs):
        for kit in kits:  # alternating: whatever drifts weighs on both
            count, checks[kit] = faults(kit)
            counts[kit].append(count)
    for kit in kits:
        median = statistics.median(counts[kit])
        print(f"{str(kit):40} {median:>10,.0f} faults  {median / checks[kit]:>7,.0f} per check "
              f"({checks[kit]} checks)")
    if args.baseline:
        ratio = statistics.median(counts[ROOT]) / statistics.median(counts[kits[1]])
        print(f"{'this checkout / baseline':40} {ratio:>10.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
