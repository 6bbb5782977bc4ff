"""``./container``: the command line of the toy runtime.

    ./container run [--rm] [--name NAME] [-v SPEC]... [--mount SPEC]... IMAGE [CMD [ARG...]]
    ./container ps | inspect ID... | exec ID CMD...
    ./container image ...  (mountlab/runtime/images/cli.py)
    ./container volume ... (mountlab/runtime/volumes.py)

Only what a subcommand needs is imported, and only when it runs: a ``run`` must start nearly as
fast as ``python3 -c pass``. ``image`` and ``volume`` live in their own modules, each exposing
``register(subparsers)``, which adds its parser and sets ``func(args) -> int`` as its default.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

TYPE_CHECKING = False  # typing costs milliseconds to import: only for the type checkers
if TYPE_CHECKING:
    import argparse
    from typing import Any, NoReturn

__all__ = ["main", "build_parser"]

# name -> (module, one-line help shown before the module is imported)
# name -> (module, key of its one-line help in mountlab/messages/help.toml)
_PLUGINS = {
    "image": ("mountlab.runtime.images.cli", "help.container.image_commands"),
    "volume": ("mountlab.runtime.volumes", "help.container.volume_commands"),
}


def _run(args: argparse.Namespace) -> int:
    from mountlab.runtime.run import run

    return run(args)


def _ps(args: argparse.Namespace) -> int:
    from mountlab.runtime.containers import ps

    return ps(quiet=args.quiet, as_json=args.format == "json")


def _inspect(args: argparse.Namespace) -> int:
    from mountlab.runtime.containers import inspect

    return inspect(args.containers)


def _exec(args: argparse.Namespace) -> int:
    from mountlab.runtime.containers import exec_in

    return exec_in(args.container, args.command)


def _plugin(sub: Any, name: str, load: bool) -> None:
    module_name, help_key = _PLUGINS[name]
    if load:
        import importlib

        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name and not module_name.startswith(f"{exc.name}."):
                raise
        else:
            module.register(sub)
            return
    import argparse

    stub = sub.add_parser(name, help=_help(help_key), add_help=False)
    stub.add_argument("rest", nargs=argparse.REMAINDER)
    path = module_name.replace(".", "/") + ".py"

    def missing(_args: argparse.Namespace) -> int:
        from mountlab.messages import say
        from mountlab.runtime import errors

        errors.error(say("container.commands_missing", name=name, path=path))
        return 125

    stub.set_defaults(func=missing)


def _help(key: str) -> str:
    """A help text (help.toml), in MOUNTLAB_LANG's language or the locale's."""
    from mountlab.messages import say

    return say(key)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; ``image``/``volume`` modules are imported only when ``argv`` uses them."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        """Usage errors exit 125 with one line, like Docker's CLI."""

        def error(self, message: str) -> NoReturn:
            from mountlab.messages import say
            from mountlab.runtime import errors

            errors.error(say("container.usage_error", message=message, prog=self.prog))
            sys.exit(125)

    from mountlab import lang
    from mountlab.messages import parser_words

    parser_words.speak(lang.chosen())  # before any parser: titles and -h's help are made with it
    argv = sys.argv[1:] if argv is None else argv
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = _Parser(prog="container", description=_help("help.container.description"))
    sub = parser.add_subparsers(dest="command_name", metavar="COMMAND")

    run = sub.add_parser(
        "run", help=_help("help.container.run"),
        description=_help("help.container.run_description"))
    run.add_argument("--rm", action="store_true", help=_help("help.container.rm"))
    run.add_argument("--name", help=_help("help.container.name"))
    run.add_argument("--hostname", help=_help("help.container.hostname"))
    run.add_argument("-v", "--volume", action="append", metavar="SPEC",
                     help=_help("help.container.volume"))
    run.add_argument("--mount", action="append", metavar="SPEC",
                     help=_help("help.container.mount"))
    # Docker habits: stdin and the terminal are always passed through, so these change nothing.
    run.add_argument("-i", "--interactive", action="store_true", help=argparse.SUPPRESS)
    run.add_argument("-t", "--tty", action="store_true", help=argparse.SUPPRESS)
    run.add_argument("image", metavar="IMAGE", help=_help("help.container.image"))
    run.add_argument("command", metavar="COMMAND", nargs=argparse.REMAINDER,
                     help=_help("help.container.command"))
    run.set_defaults(func=_run)

    ps = sub.add_parser("ps", help=_help("help.container.ps"))
    ps.add_argument("-q", "--quiet", action="store_true", help=_help("help.container.quiet"))
    ps.add_argument("--format", choices=["table", "json"], default="table")
    ps.set_defaults(func=_ps)

    inspect = sub.add_parser("inspect", help=_help("help.container.inspect"))
    inspect.add_argument("containers", nargs="+", metavar="CONTAINER",
                         help=_help("help.container.containers"))
    inspect.set_defaults(func=_inspect)

    exec_ = sub.add_parser("exec", help=_help("help.container.exec"))
    exec_.add_argument("-i", "--interactive", action="store_true", help=argparse.SUPPRESS)
    exec_.add_argument("-t", "--tty", action="store_true", help=argparse.SUPPRESS)
    exec_.add_argument("container", metavar="CONTAINER")
    exec_.add_argument("command", metavar="COMMAND", nargs=argparse.REMAINDER)
    exec_.set_defaults(func=_exec)

    for name in _PLUGINS:
        _plugin(sub, name, load=first == name)
    return parser


_RUN_FLAGS = {"--rm": "rm", "-i": "interactive", "--interactive": "interactive", "-t": "tty",
              "--tty": "tty", "-it": None, "-ti": None}
_RUN_OPTIONS = {"-v": "volume", "--volume": "volume", "--mount": "mount", "--name": "name",
                "--hostname": "hostname"}


def fast_run_args(argv: list[str]) -> SimpleNamespace | None:
    """``run``'s arguments parsed without building the argparse parsers, or None to let argparse
    do it (help, an unknown option, a usage error: argparse stays the one definition).

    Building every subcommand's parser costs several milliseconds (gettext looks up a catalogue
    for each help string), a noticeable share of a ``run`` that must start in about the time of
    ``python3 -c pass``; the result is the same Namespace (a test compares the two).
    """
    if not argv or argv[0] != "run":
        return None
    values: dict[str, Any] = {"command_name": "run", "func": _run, "rm": False, "name": None,
                              "hostname": None, "volume": None, "mount": None,
                              "interactive": False, "tty": False}
    i = 1
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") or arg == "-":
            if "--" in argv[i + 1:]:
                return None  # argparse drops a "--" from the command: keep one behaviour
            values.update(image=arg, command=argv[i + 1:])
            return SimpleNamespace(**values)
        if arg in _RUN_FLAGS:
            for key in (_RUN_FLAGS[arg],) if _RUN_FLAGS[arg] else ("interactive", "tty"):
                values[key] = True
            i += 1
            continue
        option, sep, value = arg.partition("=")
        if not sep and arg.startswith("-v") and len(arg) > 2:
            option, sep, value = "-v", "=", arg[2:]
        key = _RUN_OPTIONS.get(option)
        if key is None or (option == "-v" and sep and arg.startswith("-v=")):
            return None
        if not sep:
            if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                return None  # argparse explains what is missing
            value = argv[i + 1]
            i += 1
        if key in ("volume", "mount"):
            values[key] = [*(values[key] or ()), value]
        else:
            values[key] = value
        i += 1
    return None  # no image: argparse says so


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``./container`` and ``python -m mountlab.runtime``; returns the exit code."""
    program = argv is None and _is_program()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = fast_run_args(argv)
    if args is not None:
        if program:
            # A run lives for one command: the cycle collector would only walk (and, in the
            # forked children, copy) memory that is freed at exit anyway.
            import gc

            gc.disable()
        code = _dispatch(args)
        if program:
            _exit_now(code)
        return code
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    if args.command_name == "exec" and not args.command:
        parser.error(_help("container.exec_needs_command"))
    return _dispatch(args)


def _is_program() -> bool:
    """True in ``python -m mountlab.runtime`` (``./container``) itself, not when ``main`` is
    called from other code (tests, coverage)."""
    main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(main_spec, "name", None) == "mountlab.runtime.__main__" and \
        "coverage" not in sys.modules


def _exit_now(code: int) -> None:
    """End ``python -m mountlab.runtime run`` at once with ``code``: the container is gone and
    its directory removed, and the interpreter's clean-up (every module torn down, a last garbage
    collection) would add milliseconds to every run. Returns (the caller exits normally) when
    flushing the output fails: the interpreter then reports it as usual."""
    if not isinstance(code, int):
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - a closed or broken stdout: let the interpreter say it
        return
    import os

    os._exit(code & 0xFF)


def _dispatch(args: Any) -> int:
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
