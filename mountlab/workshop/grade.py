"""``./workshop grade``: grade all five steps of one learner with the kit's checks, in one of the
formats graders read (table, json, junit, gradescope, github)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from mountlab import registry
from mountlab.grading import grader, report
from mountlab.messages import say
from mountlab.workshop import ui


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--student", type=Path, default=registry.KIT_ROOT, metavar="DIR",
                        help=ui._say("help.grade_student"))
    parser.add_argument("--format", choices=report.FORMATS, default="table",
                        help=ui._say("help.grade_format"))
    parser.add_argument("--out", type=Path, default=None, metavar="FILE",
                        help=ui._say("help.grade_out"))
    parser.add_argument("--timeout", type=float, default=grader.DEFAULT_TIMEOUT,
                        metavar="SECONDS",
                        help=ui._say("help.grade_timeout", default=grader.DEFAULT_TIMEOUT))
    parser.add_argument("--no-hidden", action="store_true",
                        help=ui._say("help.no_hidden"))
    ui.add_lang(parser)
    parser.add_argument("--no-jail", action="store_true", help=argparse.SUPPRESS)
    backend_option(parser)


def backend_option(parser: argparse.ArgumentParser) -> None:
    from mountlab import backends

    parser.add_argument("--backend", choices=backends.CHOICES, default=None,
                        help=ui._say("help.backend"))


def _write(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, out)  # one piece: a reader never sees half a results.json


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    args.lang = ui.lang_of(args)
    try:
        outcome = grader.grade_submission(args.student, timeout=args.timeout,
                                          hidden=not args.no_hidden, lang=args.lang,
                                          jail=not args.no_jail, backend=args.backend)
        if outcome.backend:  # which kernel graded it, before the report (stderr: not in files)
            print(say("grading.graded_on", backend=outcome.backend), file=sys.stderr)
        if args.format == "table" and args.out is None:
            report.print_table(outcome, args.lang)
        else:
            _write(report.render(outcome, args.format, args.lang), args.out)
        if args.format == "github" and os.environ.get("GITHUB_OUTPUT"):
            with open(os.environ["GITHUB_OUTPUT"], "a") as f:
                f.write(report.github_output_line(report.to_github(outcome, args.lang)))
    except BaseException as exc:
        if args.format == "gradescope":  # Gradescope needs a results.json whatever happened
            import json

            failure = report.gradescope_failure(f"{type(exc).__name__}: {exc}",
                                                time.monotonic() - started)
            _write(json.dumps(failure, indent=2) + "\n", args.out)
        raise
    if outcome.status != "ok":
        print(f"mountlab: {outcome.student}: {outcome.status}", file=sys.stderr)
        return 1
    return 0
