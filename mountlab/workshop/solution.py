"""``./workshop solution N``: the reference solution of step N, once the learner's own code gets
every point of that step (like rustlings: a solution to compare with, not to copy). The learner's
copy of the kit ships without ``solutions/``: then the instructor keeps them, and we say so."""

from __future__ import annotations

import argparse

from mountlab import registry
from mountlab.workshop import runner, status, ui
from mountlab.workshop.ui import tr


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("step", type=ui.step_arg, metavar="N", help=ui._say("help.step"))
    ui.add_lang(parser)


@ui.command(add_arguments)
def run(args: argparse.Namespace) -> int:
    lang = ui.lang_of(args)
    step: registry.Step = args.step
    out = ui.Out()
    solutions = registry.KIT_ROOT / "solutions"
    if not solutions.is_dir():
        return ui.fail(tr(lang, "this copy of the kit has no solutions/: the instructor keeps the "
                                "reference solutions. Ask them once you have finished the step.",
                          "cette copie du kit n'a pas de solutions/ : c'est l'enseignant qui "
                          "garde les solutions de référence. Demandez-les-lui une fois l'étape "
                          "finie."))
    path = solutions / step.folder / step.filename
    if not path.is_file():
        return ui.fail(tr(lang, f"solutions/{step.folder}/{step.filename} is missing from this "
                                "copy of the kit: ask the instructor",
                          f"solutions/{step.folder}/{step.filename} manque dans cette copie du "
                          "kit : demandez à l'enseignant"))
    # Always the learner's own code, whatever MOUNTLAB_IMPL says.
    grade = runner.grade([step.number], impl="steps", lang=lang).steps[step.number]
    if not grade.done:
        out.line(tr(lang, f"{ui.label(step, lang)}: {grade.points}/{step.points} points. The "
                          f"reference solution opens once your own code gets all {step.points}.",
                    f"{ui.label(step, lang)} : {grade.points}/{step.points} points. La solution "
                    f"de référence s'ouvre quand votre code obtient les {step.points}."), "yellow")
        if grade.problem:
            out.line(f"  {grade.problem}", "red")
        status.show_failure(out, grade, lang)
        out.line(tr(lang, f"  Stuck? ./workshop hint {step.number}",
                    f"  Bloqué ? ./workshop hint {step.number}"), "dim")
        return 1
    where = f"solutions/{step.folder}/{step.filename}"
    out.code(path.read_text(), tr(lang, f"Reference solution, {ui.label(step, lang)} ({where}):",
                                  f"Solution de référence, {ui.label(step, lang)} ({where}) :"))
    out.line(tr(lang, f"Compare it with yours: diff {ui.module_path(step)} {where}",
                f"Comparez-la à la vôtre : diff {ui.module_path(step)} {where}"), "dim")
    return 0
