"""``./workshop release OUTDIR``: write the learner copy (no solutions, no instructor-only checks,
no kit tests), then verify inside it that the checks run and the skeletons score zero."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mountlab.grading import release


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("outdir", type=Path, metavar="OUTDIR",
                        help="a new (or empty) folder, outside the kit")
    parser.add_argument("--no-verify", action="store_true",
                        help="only write the copy (the verification grades it once, ~10 s)")


def run(args: argparse.Namespace) -> int:
    try:
        files = release.write(args.outdir)
    except release.ReleaseError as exc:
        print(f"mountlab: {exc}", file=sys.stderr)
        return 2
    print(f"{args.outdir}: {len(files)} files (no solutions/, instructor/ or tests/)")
    if args.no_verify:
        return 0
    print("verifying the learner copy on its own (the instructor's tree hidden)...")
    check = release.verify(args.outdir)
    for fact in check.facts:
        print(f"  {fact}")
    for problem in check.problems:
        print(f"  ✗ {problem}", file=sys.stderr)
    if not check.ok:
        print("mountlab: the learner copy is NOT ready", file=sys.stderr)
        return 1
    print("the learner copy is ready: its checks run on their own and the skeletons score 0")
    return 0
