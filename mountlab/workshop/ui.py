"""What the learner's commands share: the language, the output (rich on a terminal, plain text
otherwise), step-number arguments, and where per-learner state lives.

rich is imported only when the output is a terminal: piped output, tests and benchmarks never pay
for it, and get plain text without escape codes. ``NO_COLOR`` (https://no-color.org) is honoured
by rich itself (styles but no colours).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from mountlab import lang as language
from mountlab import registry

PROG = "./workshop"


# -- language -----------------------------------------------------------------------------------

def env_lang() -> str:
    """The language when no ``--lang`` is given: ``MOUNTLAB_LANG``, then the locale (POSIX
    order: ``LC_ALL`` wins over ``LC_MESSAGES``, which wins over ``LANG``)."""
    return language.current()


def lang_of(args: argparse.Namespace) -> str:
    """``--lang``, else ``MOUNTLAB_LANG``, else the locale; handed down to the pytest runs and
    graders the command starts (``MOUNTLAB_LANG``)."""
    return language.use(getattr(args, "lang", None), export=True)


def tr(lang: str, en: str, fr: str) -> str:
    """The text in the learner's language (the two versions sit side by side in the code, so
    that neither can be forgotten)."""
    return fr if lang == "fr" else en


def _say(key: str, **fields: Any) -> str:
    from mountlab.messages import say

    return say(key, **fields)


def add_lang(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", choices=registry.LANGS, default=None,
                        help=_say("help.lang"))


def add_backend(parser: argparse.ArgumentParser) -> None:
    """``--backend``: sets ``MOUNTLAB_BACKEND`` for the runs the command starts."""
    from mountlab import backends

    class _Set(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            os.environ[backends.ENV] = values
            setattr(namespace, self.dest, values)

    parser.add_argument("--backend", choices=backends.CHOICES, default=None, action=_Set,
                        help=_say("help.backend"))


def label(step: registry.Step, lang: str) -> str:
    """``Step 3 — Unmount safely`` / ``Étape 3 — Démonter sans risque``."""
    return f"{tr(lang, 'Step', 'Étape')} {step.number} — {step.title[lang]}"


def readme(step: registry.Step, lang: str) -> str:
    return step.readme(lang)


def module_path(step: registry.Step) -> str:
    return f"steps/{step.folder}/{step.filename}"


# -- arguments ----------------------------------------------------------------------------------

def step_arg(text: str) -> registry.Step:
    """argparse type for a step number: a bad one is a one-line usage error (exit 2)."""
    try:
        return registry.get(text)
    except KeyError as exc:
        raise argparse.ArgumentTypeError(exc.args[0]) from None


def complete(args: argparse.Namespace,
             add_arguments: Callable[[argparse.ArgumentParser], None]) -> argparse.Namespace:
    """Fill in the defaults of options the parser did not add (``./workshop`` with no command
    runs ``status`` without its own options registered)."""
    p = argparse.ArgumentParser(add_help=False)
    add_arguments(p)
    for action in p._actions:
        if action.dest != argparse.SUPPRESS and not hasattr(args, action.dest):
            setattr(args, action.dest, action.default)
    return args


Run = Callable[[argparse.Namespace], int]


def command(add_arguments: Callable[[argparse.ArgumentParser], None]) -> Callable[[Run], Run]:
    """Decorate a command's ``run``: fill in missing option defaults, and end quietly, without a
    traceback, on Ctrl-C (exit 130) or when the reader of a pipe goes away (``| head``)."""

    def wrap(run: Run) -> Run:
        def wrapped(args: argparse.Namespace) -> int:
            try:
                return run(complete(args, add_arguments))
            except KeyboardInterrupt:
                print(file=sys.stderr)
                return 130
            except BrokenPipeError:
                # Python flushes stdout again at exit: point it at /dev/null first.
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, sys.stdout.fileno())
                return 141

        wrapped.__doc__ = run.__doc__
        return wrapped

    return wrap


def fail(message: str, status: int = 1) -> int:
    """A clear one-line error on stderr; returns the exit status to use."""
    print(f"{PROG}: {message}", file=sys.stderr)
    return status


# -- per-learner state --------------------------------------------------------------------------

def _owner() -> tuple[int, int] | None:
    """(uid, gid) of the learner behind ``sudo``: their state stays theirs."""
    if os.geteuid() == 0 and os.environ.get("SUDO_UID", "").isdigit():
        return int(os.environ["SUDO_UID"]), int(os.environ.get("SUDO_GID", "0") or 0)
    return None


def state_dir() -> Path:
    """``$XDG_STATE_HOME/mountlab/<copy>/``: one folder per copy of the kit, outside the repo
    (hints already seen are the learner's, not the kit's). Behind ``sudo``, the learner's own
    home is used, so that ``sudo ./workshop hint`` and ``./workshop hint`` agree."""
    base = os.environ.get("XDG_STATE_HOME")
    if not base:
        home = Path.home()
        owner = _owner()
        if owner is not None:
            import pwd

            try:
                home = Path(pwd.getpwuid(owner[0]).pw_dir)
            except KeyError:
                pass
        base = str(home / ".local" / "state")
    root = registry.KIT_ROOT
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:10]
    return Path(base) / "mountlab" / f"{root.name}-{digest}"


def make_state_dir() -> Path:
    path = state_dir()
    created = [p for p in (path.parent.parent, path.parent, path) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    owner = _owner()
    if owner is not None:
        for p in created:
            try:
                os.chown(p, *owner)
            except OSError:
                pass
    return path


def give_back(path: Path) -> None:
    """A file written for the learner behind ``sudo`` belongs to them."""
    owner = _owner()
    if owner is not None:
        try:
            os.chown(path, *owner)
        except OSError:
            pass


# -- output -------------------------------------------------------------------------------------

def fancy(stream: TextIO) -> bool:
    """rich output only on a real terminal (``TERM=dumb`` gets plain text too)."""
    try:
        return stream.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


class Out:
    """Print lines, tables and a progress bar: through rich on a terminal, as plain text
    otherwise. ``style`` is a rich style name, ignored in plain text."""

    def __init__(self, stream: TextIO | None = None, force_plain: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.fancy = not force_plain and fancy(self.stream)
        self._console: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False, soft_wrap=False)
        return self._console

    def line(self, text: str = "", style: str | None = None) -> None:
        if self.fancy:
            from rich.text import Text

            self.console.print(Text(text, style=style or ""))
        else:
            print(text, file=self.stream)

    def parts(self, *pieces: tuple[str, str | None]) -> None:
        """One line made of (text, style) pieces."""
        if self.fancy:
            from rich.text import Text

            line = Text()
            for text, style in pieces:
                line.append(text, style=style or "")
            self.console.print(line)
        else:
            print("".join(text for text, _ in pieces), file=self.stream)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]],
              styles: Sequence[str | None] = (), justify: Sequence[str] = ()) -> None:
        """A table; ``styles[i]`` colours row i, ``justify[j]`` aligns column j."""
        if self.fancy:
            from rich import box
            from rich.table import Table

            table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
            for j, header in enumerate(headers):
                table.add_column(header, justify=(justify[j] if j < len(justify) else "left"))
            for i, row in enumerate(rows):
                table.add_row(*row, style=styles[i] if i < len(styles) else None)
            self.console.print(table)
            return
        widths = [max(len(str(r[j])) for r in [headers, *rows]) for j in range(len(headers))]

        def fmt(row: Sequence[str]) -> str:
            cells = []
            for j, cell in enumerate(row):
                right = j < len(justify) and justify[j] == "right"
                cells.append(str(cell).rjust(widths[j]) if right else str(cell).ljust(widths[j]))
            return "  ".join(cells).rstrip()

        print(fmt(headers), file=self.stream)
        print("  ".join("-" * w for w in widths), file=self.stream)
        for row in rows:
            print(fmt(row), file=self.stream)

    def bar(self, done: int, total: int, caption: str) -> None:
        """A progress bar followed by ``caption``."""
        if self.fancy:
            from rich.progress_bar import ProgressBar
            from rich.table import Table

            grid = Table.grid(padding=(0, 1))
            grid.add_column(width=40)
            grid.add_column()
            grid.add_row(ProgressBar(total=max(total, 1), completed=done, width=40), caption)
            self.console.print(grid)
            return
        width = 40
        filled = round(width * done / total) if total else 0
        print(f"[{'#' * filled}{'-' * (width - filled)}] {caption}", file=self.stream)

    def code(self, source: str, title: str) -> None:
        """Python source, highlighted on a terminal."""
        if self.fancy:
            from rich.syntax import Syntax

            self.line(title, "bold")
            self.console.print(Syntax(source, "python", line_numbers=True,
                                      theme="ansi_dark", word_wrap=False))
            return
        print(title, file=self.stream)
        print(source.rstrip("\n"), file=self.stream)

    def clear(self) -> None:
        if self.fancy:
            self.console.clear()
