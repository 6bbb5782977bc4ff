"""``./workshop report gradebook.json --html report.html``: the class report of a saved run of
``grade-class`` (the ``gradebook.json`` it writes beside its CSV), without grading again."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mountlab.workshop import ui


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("gradebook", type=Path, metavar="GRADEBOOK.json",
                        help=ui._say("help.report_gradebook"))
    parser.add_argument("--html", type=Path, required=True, metavar="FILE",
                        help=ui._say("help.report_html"))
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
    print(ui._say("workshop.report_written", path=args.html, count=len(outcomes)))
    return 0
