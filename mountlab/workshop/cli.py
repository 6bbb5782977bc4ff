"""``./workshop``: one entry point, one small module per command (imported only when used)."""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module under mountlab.workshop, one-line help). Each module has
# add_arguments(parser) and run(args) -> exit status.
COMMANDS: dict[str, tuple[str, str]] = {
    "status": ("status", "your points in each step, and what to do next (the default)"),
    "hint": ("hint", "one more hint for a step each time (--all: every hint)"),
    "watch": ("watch", "re-run the current step's checks each time you save a file"),
    "reset": ("reset", "restore a step's skeleton (your file is backed up first)"),
    "solution": ("solution", "show the reference solution of a step you have finished"),
    "doctor": ("doctor", "check that this machine can run the kit, and say how to fix it"),
    "demo": ("demo", "run the exercise's scenario with the reference solution, step by step"),
    "notebook": ("notebook", "open the walkthroughs in JupyterLab (port 8888, VM-forwarded)"),
    "check": ("check", "run the graded checks of a step (pytest steps/NN)"),
    "test": ("selftest", "run the kit's own tests (solutions pass, skeletons fail, bugs caught)"),
    "grade": ("grade", "grade one learner's five steps (table, json, junit, gradescope, github)"),
    "grade-class": ("grade_class", "grade every learner of a class into a gradebook CSV"),
    "report": ("report", "write the class report (HTML) of a saved grade-class run"),
    "autograder": ("autograder", "build the Gradescope autograder zip"),
    "release": ("release", "write the learner copy (no solutions, no instructor-only checks)"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with a one-line hint, never a traceback
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the ``chosen`` command's module is imported to add its options."""
    p = _Parser(prog="./workshop", description="mountlab: build the volume feature of a small "
                "container runtime, one graded step at a time.")
    p.add_argument("--version", action="version", version="mountlab 0.1.0")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(module=module)
        if name == chosen:
            importlib.import_module(f"mountlab.workshop.{module}").add_arguments(cmd)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # ./workshop alone, or with status's options only (./workshop --lang fr), means status.
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["status", *argv]
    p = parser(argv[0])
    args, rest = p.parse_known_args(argv)
    module = importlib.import_module(f"mountlab.workshop.{args.module}")
    if rest and not getattr(module, "ACCEPTS_EXTRA", False):
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    args.extra = rest
    return module.run(args)
