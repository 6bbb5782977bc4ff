"""``./workshop hint [N]``: one more hint for step N each time (``--all``: all of them).

The hints come from the registry (``mountlab/steps.toml``), in English or French. How many the
learner has already seen is kept per copy of the kit, outside the repository
(``$XDG_STATE_HOME/mountlab/<copy>/hints.json``): it is the learner's history, not the kit's.
Without N, the hint is for the step the learner is on (the first one not finished).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from mountlab import registry
from mountlab.workshop import ui
from mountlab.workshop.ui import tr


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("step", type=ui.step_arg, nargs="?", metavar="N",
                        help=ui._say("help.step_current"))
    parser.add_argument("--all", action="store_true", help=ui._say("help.hint_all"))
    parser.add_argument("--reset", action="store_true",
                        help=ui._say("help.hint_reset"))
    ui.add_lang(parser)


def _file() -> Path:
    return ui.state_dir() / "hints.json"


def seen() -> dict[str, int]:
    """Step number (as text) -> how many hints were shown."""
    try:
        data = json.loads(_file().read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, int)} if isinstance(data, dict) else {}


def _save(data: dict[str, int]) -> None:
    path = ui.make_state_dir() / "hints.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)  # atomic: two terminals asking at once cannot corrupt it
    ui.give_back(path)


def reveal(step: registry.Step, *, everything: bool = False) -> tuple[int, bool]:
    """Reveal one more hint of ``step`` (all with ``everything``); return (how many are shown
    now, whether a new one was revealed)."""
    data = seen()
    total = len(step.hints["en"])
    before = min(data.get(str(step.number), 0), total)
    now = total if everything else min(before + 1, total)
    if now != before:
        data[str(step.number)] = now
        try:
            _save(data)
        except OSError:
            pass  # a read-only home: the hint is still shown, just not remembered
    return now, now > before


def show(out: ui.Out, step: registry.Step, lang: str, shown: int, new: bool) -> None:
    hints = step.hints[lang]
    out.parts((ui.label(step, lang), "bold cyan"),
              (tr(lang, f": hint {shown} of {len(hints)}", f" : indice {shown} sur {len(hints)}"),
               "bold"))
    for i, text in enumerate(hints[:shown], 1):
        latest = new and i == shown
        out.parts((f"  {i}. ", "bold" if latest else "dim"),
                  (text, "yellow" if latest else None))
    if shown < len(hints):
        out.line(tr(lang, f"Again for the next one: ./workshop hint {step.number}   "
                          f"(all of them: --all)",
                    f"Recommencez pour le suivant : ./workshop hint {step.number}   "
                    f"(tous : --all)"), "dim")
    else:
        out.line(tr(lang, f"That was the last hint. The README explains each point: "
                          f"{ui.readme(step, lang)}; ./workshop status shows the first failing "
                          "check and why it fails.",
                    f"C'était le dernier indice. Le README explique chaque point : "
                    f"{ui.readme(step, lang)} ; ./workshop status montre le premier test qui "
                    "échoue et pourquoi."), "dim")


@ui.command(add_arguments)
def run(args: argparse.Namespace) -> int:
    lang = ui.lang_of(args)
    out = ui.Out()
    step = args.step
    if step is None:
        from mountlab.workshop import runner

        if not (registry.KIT_ROOT / "steps").is_dir():
            return ui.fail(tr(lang, f"{registry.KIT_ROOT / 'steps'} is missing, so the step you "
                                    "are on is unknown: ./workshop hint N gives the hints of "
                                    "step N (restore steps/: git checkout -- steps)",
                              f"{registry.KIT_ROOT / 'steps'} est absent, l'étape en cours est "
                              "donc inconnue : ./workshop hint N donne les indices de l'étape N "
                              "(restaurez steps/ : git checkout -- steps)"))

        grade = runner.grade(lang=lang).current()
        if grade is None:
            out.line(tr(lang, "Every step is done: no hint needed. (./workshop hint N shows "
                              "the hints of step N.)",
                        "Toutes les étapes sont finies : pas besoin d'indice. "
                        "(./workshop hint N montre les indices de l'étape N.)"))
            return 0
        step = grade.step
    if args.reset:
        data = seen()
        data.pop(str(step.number), None)
        try:
            _save(data)
        except OSError as exc:
            return ui.fail(f"{_file()}: {exc.strerror}")
        out.line(tr(lang, f"The hints of step {step.number} are hidden again.",
                    f"Les indices de l'étape {step.number} sont à nouveau cachés."))
        return 0
    shown, new = reveal(step, everything=args.all)
    show(out, step, lang, shown, new)
    return 0
