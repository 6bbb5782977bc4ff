"""``./workshop grade-class SUBMISSIONS --out gradebook.csv [--html report.html]``: grade every
learner of a class. Beside the CSV, ``gradebook.json`` keeps the whole run (every check of every
learner), from which ``./workshop report`` writes the class report again."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mountlab.grading import classroom, grader
from mountlab.messages import say
from mountlab.workshop import grade, ui


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submissions", type=Path, metavar="SUBMISSIONS",
                        help=ui._say("help.class_submissions"))
    parser.add_argument("--out", type=Path, required=True, metavar="CSV",
                        help=ui._say("help.class_out"))
    parser.add_argument("--jobs", "-j", type=int, default=classroom.default_jobs(),
                        metavar="N", help=ui._say("help.class_jobs"))
    parser.add_argument("--timeout", type=float, default=grader.DEFAULT_TIMEOUT,
                        metavar="SECONDS",
                        help=ui._say("help.class_timeout", default=grader.DEFAULT_TIMEOUT))
    parser.add_argument("--reports", type=Path, default=None, metavar="DIR",
                        help=ui._say("help.class_reports"))
    parser.add_argument("--no-hidden", action="store_true",
                        help=ui._say("help.no_hidden"))
    parser.add_argument("--html", type=Path, default=None, metavar="FILE",
                        help=ui._say("help.class_html"))
    ui.add_lang(parser)
    grade.backend_option(parser)


def saved_run(csv_path: Path) -> Path:
    """Where the whole run is kept: the CSV's name with .json (gradebook.json)."""
    return csv_path.with_suffix(".json") if csv_path.suffix != ".json" else \
        csv_path.with_name(csv_path.name + ".run.json")


def run(args: argparse.Namespace) -> int:
    args.lang = ui.lang_of(args)
    if not args.submissions.is_dir():
        print(say("classreport.not_a_folder", path=args.submissions), file=sys.stderr)
        return 2
    count = len(classroom.find_submissions(args.submissions))
    if count == 0:
        print(say("classreport.no_submission", path=args.submissions), file=sys.stderr)
        return 2
    try:
        backend = grader.choose_backend(args.backend)
    except grader.SubmissionError as exc:
        print(f"mountlab: {exc}", file=sys.stderr)
        return 2
    print(say("classreport.grading_on", count=count, backend=backend), file=sys.stderr)
    progress = classroom.Progress(count)
    try:
        outcomes, left = classroom.grade_class(
            args.submissions, jobs=args.jobs, timeout=args.timeout, hidden=not args.no_hidden,
            lang=args.lang, reports=args.reports, on_done=progress, backend=args.backend)
    finally:
        progress.close()
    from mountlab.grading import classdata

    classroom.write_gradebook(outcomes, args.out)
    classdata.save(outcomes, saved_run(args.out))
    classroom.print_summary(outcomes)
    print(say("classreport.gradebook", path=args.out, run=saved_run(args.out)))
    if args.html:
        from mountlab.grading import html_report

        html_report.write(outcomes, args.html, lang=args.lang, created=time.strftime("%Y-%m-%d"))
        print(say("classreport.class_report", path=args.html))
    if left:
        print(say("classreport.mounts_left", mounts=", ".join(left)), file=sys.stderr)
        return 1
    return 0
