"""``./workshop autograder OUT.zip``: the Gradescope autograder (setup.sh, run_autograder and the
kit's checks), to upload as the assignment's "Zip file upload"."""

from __future__ import annotations

import argparse
from pathlib import Path

from mountlab.grading import autograder
from mountlab.messages import say
from mountlab.workshop import ui


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, metavar="OUT.zip", help=ui._say("help.autograder_out"))
    parser.add_argument("--timeout", type=int, default=autograder.DEFAULT_TIMEOUT,
                        metavar="SECONDS", help=ui._say("help.autograder_timeout",
                                                        default=autograder.DEFAULT_TIMEOUT))
    parser.add_argument("--no-hidden", action="store_true",
                        help=ui._say("help.no_hidden"))
    parser.add_argument("--lang", choices=("en", "fr"), default=None,
                        help=ui._say("help.autograder_lang"))


def run(args: argparse.Namespace) -> int:
    lang = ui.lang_of(args)
    names = autograder.build(args.out, timeout=args.timeout, hidden=not args.no_hidden, lang=lang)
    checks = sum(1 for n in names if Path(n).name.startswith("test_"))
    print(say("grading.autograder_built", zip=args.out, files=len(names), checks=checks,
              language=say(f"grading.language.{lang}")))
    return 0
