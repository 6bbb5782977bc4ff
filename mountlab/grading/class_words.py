"""The words of the class report (``html_report``): English and French side by side."""

from __future__ import annotations

# (English, French), side by side.
TEXT = {
    "title": ("mountlab — class report", "mountlab — rapport de la classe"),
    "graded": ("{n} submissions, graded {when}", "{n} rendus, notés le {when}"),
    "statuses": ("{ok} graded normally, {bad} with a problem",
                 "{ok} notés normalement, {bad} avec un problème"),
    "summary": ("Points per step", "Points par étape"),
    "max": ("max", "max"),
    "mean": ("mean", "moyenne"),
    "median": ("median", "médiane"),
    "full": ("full points", "tous les points"),
    "critical_learners": ("with a critical failure", "avec un échec critique"),
    "total": ("Total", "Total"),
    "distribution": ("Distribution of the points", "Répartition des points"),
    "plot_note": ("Each bar counts the learners with that many points; the dotted line is half "
                  "the step, the most a step gives while one of its critical checks fails.",
                  "Chaque barre compte les apprenants ayant ce nombre de points ; la ligne "
                  "pointillée marque la moitié de l'étape, le plus qu'une étape donne tant qu'un "
                  "de ses tests critiques échoue."),
    "learners_axis": ("learners", "apprenants"),
    "failures": ("Checks the class fails most", "Tests que la classe rate le plus"),
    "no_failures": ("No check failed.", "Aucun test n'a échoué."),
    "n_learners": ("{n} learners", "{n} apprenants"),
    "one_learner": ("1 learner", "1 apprenant"),
    "headline": ("{who}: {what}", "{who} : {what}"),
    "step": ("Step {n} — {title}", "Étape {n} — {title}"),
    "reasons": ("What their runs said", "Ce que disaient leurs exécutions"),
    "who": ("Who", "Qui"),
    "learners": ("Learners", "Apprenants"),
    "sort_note": ("Click a column's title to sort by it.",
                  "Cliquez sur le titre d'une colonne pour trier."),
    "student": ("learner", "apprenant"),
    "status": ("status", "état"),
    "time": ("time (s)", "durée (s)"),
    "failed": ("failed checks", "tests échoués"),
    "none": ("none", "aucun"),
    "problems": ("Submissions that did not grade normally",
                 "Rendus qui n'ont pas été notés normalement"),
    "no_problems": ("Every submission was graded normally.",
                    "Tous les rendus ont été notés normalement."),
    "what": ("what happened", "ce qui s'est passé"),
    "why": ("why", "pourquoi"),
    "ok": ("ok", "ok"),
    "timeout": ("timed out", "temps dépassé"),
    "crashed": ("crashed", "planté"),
    "refused": ("refused", "refusé"),
    "error": ("problem", "problème"),
    "timeout_why": ("did not finish within its time limit; the points are those of the checks "
                    "finished before",
                    "n'a pas fini dans le temps imparti ; les points sont ceux des tests finis "
                    "avant"),
    "capped": ("step capped at half: a critical check failed",
               "étape plafonnée à la moitié : un test critique a échoué"),
}


def t(key: str, lang: str, **values: object) -> str:
    text = TEXT[key][0 if lang == "en" else 1]
    return text.format(**values) if values else text
