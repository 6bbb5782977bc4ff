"""``./workshop check N [pytest options]``: the graded checks of step N, as ``pytest steps/NN``."""

from __future__ import annotations

import argparse
import os
import sys

from mountlab import registry
from mountlab.workshop import ui

ACCEPTS_EXTRA = True  # e.g. ./workshop check 3 --impl solutions -x


def step_number(text: str) -> registry.Step:
    try:
        return registry.get(text)
    except KeyError as exc:
        raise argparse.ArgumentTypeError(exc.args[0]) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("step", type=step_number, nargs="?", help="the step number, 1 to 5 "
                        "(default: all steps)")
    ui.add_backend(parser)


def run(args: argparse.Namespace) -> int:
    target = f"steps/{args.step.folder}" if args.step else "steps"
    os.chdir(registry.KIT_ROOT)
    backend = ["--backend", args.backend] if args.backend else []
    os.execv(sys.executable, [sys.executable, "-m", "pytest", target, *backend, *args.extra])
