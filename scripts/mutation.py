"""Mutation testing of the graded checks: cosmic-ray mutates ``solutions/NN`` and runs the checks of
step NN against each mutant; a mutant that still gets full points shows a check missing.

    .venv/bin/python scripts/mutation.py [STEP ...] [--jobs N]

Each step runs in its own copy of the kit (cosmic-ray edits files in place), steps in parallel.
Survivors are compared with ``tests/mutation_survivors.toml``, which gives a one-line reason
for each mutant known to be equivalent; any other survivor makes the exit status 1.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mountlab import registry  # noqa: E402

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG = """\
[cosmic-ray]
module-path = "solutions/{folder}/{filename}"
timeout = 30.0
excluded-modules = []
test-command = "{python} -m pytest -x -q -p no:cacheprovider steps/{folder} --impl solutions"

[cosmic-ray.distributor]
name = "local"
"""


def copy_kit(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split("\n")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file() and not name.startswith(("notebooks/", "bench/")):
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(src.read_bytes())


def mutate_step(number: int) -> list[dict]:
    step = registry.get(number)
    with tempfile.TemporaryDirectory(prefix=f"mountlab-mutation-{step.folder}-") as tmp:
        work = Path(tmp)
        copy_kit(work)
        (work / "cr.toml").write_text(CONFIG.format(folder=step.folder, filename=step.filename,
                                                    python=sys.executable))
        for command in (["init", "cr.toml", "session.sqlite"], ["exec", "cr.toml",
                                                                  "session.sqlite"]):
            subprocess.run([sys.executable, "-m", "cosmic_ray.cli", *command], cwd=work,
                           check=True, capture_output=True)
        dump = subprocess.run([sys.executable, "-m", "cosmic_ray.cli", "dump", "session.sqlite"],
                              cwd=work, check=True, capture_output=True, text=True).stdout
        source = (work / "solutions" / step.folder / step.filename).read_text().splitlines()
    results = []
    for line in dump.splitlines():
        job, outcome = json.loads(line)
        mutation = job["mutations"][0]
        row = mutation["start_pos"][0]
        results.append({
            "step": number, "operator": mutation["operator_name"],
            # The mutated line without its comment: the key of tests/mutation_survivors.toml.
            "line": row, "code": source[row - 1].split("  #")[0].strip(),
            "occurrence": mutation["occurrence"],
            "outcome": (outcome or {}).get("test_outcome", "not run"),
            "diff": (outcome or {}).get("diff", ""),
        })
    return results


def known_equivalents() -> dict[tuple[int, str, str], str]:
    path = ROOT / "tests" / "mutation_survivors.toml"
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text())
    return {(s["step"], s["operator"], s["code"]): s["reason"] for s in data.get("survivor", [])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("steps", nargs="*", type=int,
                        default=[s.number for s in registry.steps()])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", metavar="FILE", help="write every mutant's outcome as JSON")
    args = parser.parse_args()

    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = [r for rs in pool.map(mutate_step, args.steps) for r in rs]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))

    equivalent = known_equivalents()
    unexplained = []
    print(f"{'step':<6}{'mutants':>9}{'killed':>8}{'survived':>10}{'equivalent':>12}{'kill %':>8}")
    for number in args.steps:
        rows = [r for r in results if r["step"] == number and r["outcome"] != "incompetent"]
        killed = sum(r["outcome"] == "killed" for r in rows)
        survivors = [r for r in rows if r["outcome"] != "killed"]
        explained = [r for r in survivors
                     if (r["step"], r["operator"], r["code"]) in equivalent]
        unexplained += [r for r in survivors if r not in explained]
        rate = 100 * killed / len(rows) if rows else 100.0
        print(f"{number:<6}{len(rows):>9}{killed:>8}{len(survivors):>10}{len(explained):>12}"
              f"{rate:>7.1f}%")
    rows = [r for r in results if r["outcome"] != "incompetent"]
    killed = sum(r["outcome"] == "killed" for r in rows)
    print(f"{'all':<6}{len(rows):>9}{killed:>8}{len(rows) - killed:>10}"
          f"{len(rows) - killed - len(unexplained):>12}{100 * killed / max(len(rows), 1):>7.1f}%")
    for r in unexplained:
        print(f"\nsurvivor without a reason: step {r['step']} line {r['line']} {r['operator']}\n"
              f"    {r['code']}\n{r['diff']}")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
