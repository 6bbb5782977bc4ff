"""``./workshop report gradebook.json --html report.html``: the class report of a saved run of
``grade-class`` (the ``gradebook.json`` it writes beside its CSV), without grading again."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mountlab.workshop import ui


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("gradebook", type=Path, metavar="GRADEBOOK.json",
                        help="the gradebook.json that grade-class wrote beside its CSV")
    parser.add_argument("--html", type=Path, required=True, metavar="FILE",
                        help="the class report to write: one self-contained HTML page")
    ui.add_lang(parser)


def run(args: argparse.Namespace) -> int:
    from mountlab.grading import classdata, html_report

    args.lang = ui.lang_of(args)

    try:
        outcomes, created = classdata.load(args.gradebook)
        html_report.write(outcomes, args.html, lang=args.lang, created=created[:10])
    except (classdata.GradebookError, RuntimeError, OSError) as exc:
        print(f"mountlab: {exc}", file=sys.stderr)
        return 2
    print(f"class report: {args.html} ({len(outcomes)} learners)")
    return 0
