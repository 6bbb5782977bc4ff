"""``./workshop``: one entry point, one small module per command (imported only when used)."""

from __future__ import annotations

import argparse
import importlib
import sys

from mountlab import lang as language
from mountlab.messages import parser_words, say

# command -> module under mountlab.workshop; its one-line help is help.command.<command> in
# mountlab/messages/help.toml. Each module has add_arguments(parser) and run(args) -> exit status.
COMMANDS: dict[str, str] = {
    "status": "status", "hint": "hint", "watch": "watch", "reset": "reset",
    "solution": "solution", "doctor": "doctor", "demo": "demo", "notebook": "notebook",
    "check": "check", "test": "selftest", "grade": "grade", "grade-class": "grade_class",
    "report": "report", "autograder": "autograder", "release": "release",
}


def parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the ``chosen`` command's module is imported to add its options."""
    p = argparse.ArgumentParser(prog="./workshop", description=say("help.description"))
    p.add_argument("--version", action="version", version="mountlab 0.1.0")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        help_text = say(f"help.command.{name}")
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(module=module)
        if name == chosen:
            importlib.import_module(f"mountlab.workshop.{module}").add_arguments(cmd)
    return p


def _lang_option(argv: list[str]) -> str | None:
    """The value of ``--lang`` on the command line, read before any parsing (None if absent)."""
    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--lang="):
            return arg.partition("=")[2]
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # ./workshop alone, or with status's options only (./workshop --lang fr), means status.
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["status", *argv]
    parser_words.speak(language.use(_lang_option(argv)))  # the help speaks it too
    p = parser(argv[0])
    args, rest = p.parse_known_args(argv)
    module = importlib.import_module(f"mountlab.workshop.{args.module}")
    if rest and not getattr(module, "ACCEPTS_EXTRA", False):
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    args.extra = rest
    return module.run(args)
