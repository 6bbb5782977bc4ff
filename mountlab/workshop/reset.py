"""``./workshop reset N``: put step N's skeleton back, after a confirmation, keeping the learner's
file as ``steps/NN/<file>.bak-<date>-<time>`` beside it (where they will look for it).

Where the skeleton comes from: git. The learner's copy is a clone (of the kit, or of the class's
template repository), and a second copy of every skeleton inside the kit would be one more thing to
keep in step. The learner may have committed their own work since, so the skeleton is the newest
version of the file in the history in which every function of the step is still nothing but
``raise NotImplementedError(...)`` (its docstring and TODO comments aside).
"""

from __future__ import annotations

import argparse
import ast
import datetime
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from mountlab import registry
from mountlab.workshop import ui
from mountlab.workshop.ui import tr


class NoSkeleton(Exception):
    """The skeleton cannot be found: the message says why and what to do."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("step", type=ui.step_arg, metavar="N", help=ui._say("help.step"))
    parser.add_argument("-y", "--yes", action="store_true", help=ui._say("help.reset_yes"))
    ui.add_lang(parser)


def is_skeleton(source: str, step: registry.Step) -> bool:
    """Every function of ``step`` only raises NotImplementedError (a docstring aside)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    functions = {node.name: node for node in tree.body
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for name in step.functions:
        node = functions.get(name)
        if node is None:
            return False
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        if len(body) != 1 or not isinstance(body[0], ast.Raise):
            return False
        exc = body[0].exc
        if isinstance(exc, ast.Call):
            exc = exc.func
        if not (isinstance(exc, ast.Name) and exc.id == "NotImplementedError"):
            return False
    return True


def _git(*args: str) -> str:
    proc = subprocess.run(["git", "-C", str(registry.KIT_ROOT), *args], capture_output=True,
                          text=True, timeout=30)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, args, proc.stdout, proc.stderr)
    return proc.stdout


def skeleton(step: registry.Step, lang: str = "en") -> tuple[str, str]:
    """(the skeleton's text, the commit it comes from), or ``NoSkeleton``."""
    rel = ui.module_path(step)
    if shutil.which("git") is None:
        raise NoSkeleton(tr(
            lang, f"reset takes the skeleton from git, and git is not installed: install it "
                  f"(sudo apt-get install git), or copy {rel} from a fresh copy of the kit",
            f"reset prend le squelette dans git, et git n'est pas installé : installez-le "
            f"(sudo apt-get install git), ou copiez {rel} depuis une copie neuve du kit"))
    try:
        top = Path(_git("rev-parse", "--show-toplevel").strip()).resolve()
        path_in_repo = (registry.KIT_ROOT / rel).resolve().relative_to(top).as_posix()
        commits = _git("log", "--format=%H", "--", path_in_repo).split()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, ValueError, OSError) as exc:
        said = (getattr(exc, "stderr", "") or "").strip().splitlines()
        said_text = f" (git: {said[0]})" if said else ""
        raise NoSkeleton(tr(
            lang, f"reset takes the skeleton from git, and {registry.KIT_ROOT} is not a git "
                  f"checkout{said_text}: copy {rel} from a fresh copy of the kit (git clone)",
            f"reset prend le squelette dans git, et {registry.KIT_ROOT} n'est pas un dépôt "
            f"git{said_text} : copiez {rel} depuis une copie neuve du kit (git clone)")) from None
    for commit in commits:
        try:
            text = _git("show", f"{commit}:{path_in_repo}")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            continue
        if is_skeleton(text, step):
            return text, commit[:10]
    raise NoSkeleton(tr(
        lang, f"the git history of this copy has no skeleton of {rel} (was the file ever "
              f"committed?): copy it from a fresh copy of the kit (git clone)",
        f"l'historique git de cette copie ne contient pas le squelette de {rel} (le fichier "
        f"a-t-il été commité ?) : copiez-le depuis une copie neuve du kit (git clone)"))


def backup_path(path: Path) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}.bak-{stamp}")
    n = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak-{stamp}-{n}")
        n += 1
    return candidate


def ask(question: str) -> bool:
    """y/N on the terminal; no terminal, no confirmation."""
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(question)
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes", "o", "oui")


def reset(step: registry.Step, out: ui.Out, lang: str, confirm: Callable[[str], bool] | None,
          ) -> int:
    """Restore the skeleton of ``step``; ``confirm`` (None: do not ask) gets the question."""
    rel = ui.module_path(step)
    path = registry.KIT_ROOT / rel
    if not path.parent.is_dir():
        return ui.fail(tr(lang, f"the folder steps/{step.folder} is missing: this copy of the "
                                "kit is incomplete (git checkout -- steps)",
                          f"le dossier steps/{step.folder} est absent : cette copie du kit est "
                          "incomplète (git checkout -- steps)"))
    try:
        text, commit = skeleton(step, lang)
    except NoSkeleton as exc:
        return ui.fail(str(exc))
    current = path.read_text(errors="replace") if path.is_file() else None
    if current == text:
        out.line(tr(lang, f"{rel} is already the skeleton: nothing to do.",
                    f"{rel} est déjà le squelette : rien à faire."))
        return 0
    backup = backup_path(path) if current is not None else None
    if confirm is not None:
        kept = tr(lang, f" (your file is kept as {backup.relative_to(registry.KIT_ROOT)})",
                  f" (votre fichier est gardé sous {backup.relative_to(registry.KIT_ROOT)})") \
            if backup else ""
        question = tr(lang, f"Replace {rel} with the skeleton of step {step.number}{kept}? [y/N] ",
                      f"Remplacer {rel} par le squelette de l'étape {step.number}{kept} ? "
                      "[o/N] ")
        if not confirm(question):
            out.line(tr(lang, "Nothing changed.", "Rien n'a changé."))
            return 1
    if backup is not None:
        shutil.copy2(path, backup)
        ui.give_back(backup)
    existed = path.exists()
    path.write_text(text)
    if not existed:
        ui.give_back(path)
    out.line(tr(lang, f"{rel} is the skeleton again (from git {commit}).",
                f"{rel} est de nouveau le squelette (depuis git {commit})."), "green")
    if backup is not None:
        b = backup.relative_to(registry.KIT_ROOT)
        out.line(tr(lang, f"Your version is in {b}  (compare: diff {b} {rel})",
                    f"Votre version est dans {b}  (comparez : diff {b} {rel})"))
    return 0


@ui.command(add_arguments)
def run(args: argparse.Namespace) -> int:
    lang = ui.lang_of(args)
    out = ui.Out()
    if not args.yes and not sys.stdin.isatty():
        return ui.fail(tr(lang, f"reset replaces your file: confirm with ./workshop reset "
                                f"{args.step.number} --yes (there is no terminal to ask)",
                          f"reset remplace votre fichier : confirmez avec ./workshop reset "
                          f"{args.step.number} --yes (pas de terminal pour demander)"))
    return reset(args.step, out, lang, None if args.yes else ask)
