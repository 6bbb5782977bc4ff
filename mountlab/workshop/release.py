"""``./workshop release OUTDIR``: write the learner copy (no solutions, no instructor-only checks,
no kit tests), then verify inside it that the checks run and the skeletons score zero."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mountlab.grading import release
from mountlab.workshop import ui


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("outdir", type=Path, metavar="OUTDIR",
                        help=ui._say("help.release_out"))
    parser.add_argument("--no-verify", action="store_true",
                        help=ui._say("help.release_no_verify"))


def run(args: argparse.Namespace) -> int:
    ui.lang_of(args)
    try:
        files = release.write(args.outdir)
    except release.ReleaseError as exc:
        print(f"mountlab: {exc}", file=sys.stderr)
        return 2
    print(ui._say("workshop.release_written", outdir=args.outdir, count=len(files)))
    if args.no_verify:
        return 0
    print(ui._say("workshop.release_verifying"))
    check = release.verify(args.outdir)
    for fact in check.facts:
        print(f"  {fact}")
    for problem in check.problems:
        print(f"  ✗ {problem}", file=sys.stderr)
    if not check.ok:
        print(ui._say("workshop.release_not_ready"), file=sys.stderr)
        return 1
    print(ui._say("workshop.release_ready"))
    return 0
