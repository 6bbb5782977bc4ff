"""``./workshop`` or ``./workshop status``: where the learner is and what to do next.

It grades to find out (the plugin's checks, ``mountlab.workshop.runner``) and keeps nothing: the
table is always that of the code on disk. Exit status 0, or 1 when a step's file is missing or
does not import, or the checks could not run.
"""

from __future__ import annotations

import argparse

from mountlab import impl as impl_mod
from mountlab import registry
from mountlab.workshop import runner, ui
from mountlab.workshop.ui import tr


def add_arguments(parser: argparse.ArgumentParser) -> None:
    ui.add_lang(parser)


def _state(grade: runner.StepGrade, lang: str) -> tuple[str, str]:
    """(word, style) for a step's row."""
    if grade.problem:
        return tr(lang, "✗ cannot run", "✗ ne tourne pas"), "red"
    if grade.done:
        return tr(lang, "✓ done", "✓ fini"), "green"
    if grade.points:
        return tr(lang, "… in progress", "… en cours"), "yellow"
    return tr(lang, "· to do", "· à faire"), "dim"


def show_table(out: ui.Out, grades: runner.Grades, lang: str) -> None:
    rows, styles = [], []
    for grade in grades.steps.values():
        word, style = _state(grade, lang)
        rows.append([str(grade.step.number), grade.step.title[lang],
                     f"{grade.points}/{grade.step.points}", word])
        styles.append(style)
    out.table([tr(lang, "step", "étape"), tr(lang, "title", "titre"), "points",
               tr(lang, "state", "état")], rows, styles, justify=["right", "left", "right"])
    total, best = grades.points, grades.max_points
    pct = round(100 * total / best) if best else 0
    out.line()
    out.bar(total, best, f"{total}/{best} points ({pct}%)")


def show_failure(out: ui.Out, grade: runner.StepGrade, lang: str) -> None:
    """The first failing check: what it wants, why it failed, what to read."""
    check = grade.first_failure
    if check is None:
        return
    left = sum(1 for c in grade.checks if not c.passed)
    critical = check.severity == "critical"
    out.parts((tr(lang, "  First failing check", "  Premier test qui échoue"), "bold"),
              (f" ({left} {tr(lang, 'left): ', 'restant(s)) : ')}", None),
              (tr(lang, "CRITICAL: ", "CRITIQUE : ") if critical else "", "bold red"),
              (f"{check.doc} (-{check.max_points})", "red"))
    if critical:  # why it weighs half the step
        out.line(f"    {tr(lang, 'why critical:', 'pourquoi critique :')} {check.why}", "red")
        out.line(tr(lang, f"    until it passes, this step counts at most "
                          f"{grade.step.points // 2} of its {grade.step.points} points",
                    f"    tant qu'il échoue, cette étape compte au plus {grade.step.points // 2} "
                    f"points sur {grade.step.points}"), "red")
    if check.reason:
        out.line(f"    {check.reason}")
    anchor = f"#{check.section}" if check.section else ""
    out.line(f"    {tr(lang, 'read', 'lisez')} {ui.readme(grade.step, lang)}{anchor}", "cyan")


def show_next(out: ui.Out, grades: runner.Grades, lang: str) -> None:
    grade = grades.current()
    out.line()
    if grade is None:
        out.line(tr(lang, f"All {len(grades.steps)} steps are done: {grades.points}/"
                          f"{grades.max_points} points. Well done!",
                    f"Les {len(grades.steps)} étapes sont finies : {grades.points}/"
                    f"{grades.max_points} points. Bravo !"), "bold green")
        out.line(tr(lang, "Next:", "Ensuite :"), "bold")
        out.line(tr(lang, "  see your code at work:  ./workshop demo, then "
                          "sudo ./container run -v /tmp/vol:/data busybox /bin/sh",
                    "  voyez votre code à l'œuvre :  ./workshop demo, puis "
                    "sudo ./container run -v /tmp/vol:/data busybox /bin/sh"))
        out.line(tr(lang, "  compare with the reference:  ./workshop solution N",
                    "  comparez avec la référence :  ./workshop solution N"))
        out.line(tr(lang, "  read the walkthroughs in notebooks/",
                    "  lisez les notebooks dans notebooks/"))
        return
    step = grade.step
    n = step.number
    out.parts((tr(lang, "Next: ", "À faire : "), "bold"), (ui.label(step, lang), "bold cyan"),
              (f"  ({grade.points}/{step.points} points)", None))
    if grade.problem:
        out.line(f"  {tr(lang, 'Fix this first:', 'Corrigez d’abord ceci :')} {grade.problem}",
                 "red")
        out.line(tr(lang, f"  edit   {ui.module_path(step)}",
                    f"  éditez {ui.module_path(step)}"))
        out.line(tr(lang, f"  or start again from the skeleton: ./workshop reset {n} "
                          "(your file is backed up)",
                    f"  ou repartez du squelette : ./workshop reset {n} "
                    "(votre fichier est sauvegardé)"))
        return
    if grade.points == 0:
        out.line(tr(lang, f"  1. read   {ui.readme(step, lang)}",
                    f"  1. lisez    {ui.readme(step, lang)}"))
        out.line(tr(lang, f"  2. edit   {ui.module_path(step)}  (fill in its TODOs)",
                    f"  2. éditez   {ui.module_path(step)}  (remplissez ses TODO)"))
        out.line(tr(lang, f"  3. check  ./workshop watch  (re-checks each time you save; "
                          f"or pytest steps/{step.folder})",
                    f"  3. vérifiez ./workshop watch  (revérifie à chaque enregistrement ; "
                    f"ou pytest steps/{step.folder})"))
    else:
        out.line(tr(lang, f"  edit   {ui.module_path(step)}, then check: ./workshop watch "
                          f"(or pytest steps/{step.folder})",
                    f"  éditez {ui.module_path(step)}, puis vérifiez : ./workshop watch "
                    f"(ou pytest steps/{step.folder})"))
    show_failure(out, grade, lang)
    out.line(tr(lang, f"  Stuck? ./workshop hint {n}", f"  Bloqué ? ./workshop hint {n}"),
             "dim")


def show_errors(out: ui.Out, grades: runner.Grades, lang: str) -> None:
    """What keeps checks from running: the run itself, or a step's file (the current step's
    problem is shown with what to do next; the others' here)."""
    current = grades.current()
    for grade in grades.steps.values():
        if grade.problem and grade is not current:
            out.line()
            out.parts((f"{ui.label(grade.step, lang)}{tr(lang, ':', ' :')} ", "bold red"),
                      (grade.problem, "red"))
    for error in grades.errors:
        out.line()
        out.line(tr(lang, "The checks could not run:", "Les tests n'ont pas pu tourner :"),
                 "bold red")
        for line in error.splitlines():
            out.line(f"  {line}")


@ui.command(add_arguments)
def run(args: argparse.Namespace) -> int:
    lang = ui.lang_of(args)
    kit_steps = registry.KIT_ROOT / "steps"
    if impl_mod.active() == "steps" and not kit_steps.is_dir():
        return ui.fail(tr(lang, f"{kit_steps} is missing: this copy of the kit is incomplete "
                                "(restore it: git checkout -- steps, or clone the kit again)",
                          f"{kit_steps} est absent : cette copie du kit est incomplète "
                          "(restaurez-le : git checkout -- steps, ou clonez le kit à nouveau)"))
    out = ui.Out()
    grades = runner.grade(lang=lang)
    title = tr(lang, "mountlab — your progress", "mountlab — votre progression")
    if grades.impl != "steps":
        title += tr(lang, f"  (graded code: {grades.impl})", f"  (code noté : {grades.impl})")
    out.line(title, "bold")
    out.line()
    show_table(out, grades, lang)
    show_errors(out, grades, lang)
    show_next(out, grades, lang)
    broken = grades.errors or any(g.problem for g in grades.steps.values())
    return 1 if broken else 0
