"""``./workshop autograder OUT.zip``: the Gradescope autograder (setup.sh, run_autograder and the
kit's checks), to upload as the assignment's "Zip file upload"."""

from __future__ import annotations

import argparse
from pathlib import Path

from mountlab.grading import autograder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, metavar="OUT.zip", help="the zip to write")
    parser.add_argument("--timeout", type=int, default=autograder.DEFAULT_TIMEOUT,
                        metavar="SECONDS", help="time limit of the grading of one submission "
                        f"(default {autograder.DEFAULT_TIMEOUT}; keep it under Gradescope's)")
    parser.add_argument("--no-hidden", action="store_true",
                        help="leave out the instructor-only checks (instructor/NN/)")


def run(args: argparse.Namespace) -> int:
    names = autograder.build(args.out, timeout=args.timeout, hidden=not args.no_hidden)
    checks = sum(1 for n in names if Path(n).name.startswith("test_"))
    print(f"{args.out}: {len(names)} files, {checks} files of checks; upload it in Gradescope "
          "(Configure Autograder > Zip file upload). See docs/grading.md.")
    return 0
