"""``./workshop check N``: the graded checks of step N, told the kit's way.

It runs ``pytest steps/NN`` quietly and prints from the grading plugin's JSON report
(``--mountlab-report``): one line per check (critical ones first when the report says which are),
the first failing check's reason with the README section to read, and the command that shows the
full tracebacks. Any other pytest option (``-v``, ``--tb=long``, ``-s``...) gives pytest's own
output instead, as ``pytest steps/NN`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mountlab import registry
from mountlab.workshop import ui
from mountlab.workshop.ui import tr

ACCEPTS_EXTRA = True  # e.g. ./workshop check 3 --impl solutions -x, or -v for pytest's output

#: Options that keep the kit's summary (with how many values they take); any other one means
#: pytest's own output.
SUMMARY_OPTIONS = {"--impl": 1, "-k": 1, "-x": 0, "--exitfirst": 0, "--check-timeout": 1}
SEVERITY_ORDER = {"critical": 0, "major": 1, "minor": 2}
#: A reason is shown on one line of at most this many characters.
REASON_WIDTH = 300


def step_number(text: str) -> registry.Step:
    try:
        return registry.get(text)
    except KeyError as exc:
        raise argparse.ArgumentTypeError(exc.args[0]) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("step", type=step_number, nargs="?", help=ui._say("help.step_or_all"))
    ui.add_backend(parser)
    ui.add_lang(parser)


def summary_compatible(extra: list[str]) -> bool:
    """Only options the summary can honour (``--impl``, ``-k``, ``-x``...)."""
    i = 0
    while i < len(extra):
        name, has_value, _ = extra[i].partition("=")
        if name not in SUMMARY_OPTIONS:
            return False
        i += 1 if has_value else 1 + SUMMARY_OPTIONS[name]
    return True


@ui.command(add_arguments)
def run(args: argparse.Namespace) -> int:
    target = f"steps/{args.step.folder}" if args.step else "steps"
    lang = ui.lang_of(args)
    os.chdir(registry.KIT_ROOT)
    backend = ["--backend", args.backend] if args.backend else []
    pytest = [sys.executable, "-m", "pytest", target, "--lang", lang, *backend]
    if not summary_compatible(args.extra):
        os.execv(sys.executable, [*pytest, *args.extra])
    with tempfile.TemporaryDirectory(prefix="mountlab-check-") as tmp:
        report = Path(tmp, "report.json")
        log = Path(tmp, "pytest.txt")
        with open(log, "w") as f:
            proc = subprocess.run([*pytest, "-q", "--tb=no", "-p", "no:cacheprovider",
                                   "--mountlab-report", str(report), *args.extra],
                                  stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
        data = json.loads(report.read_text()) if report.exists() else None
        output = log.read_text(errors="replace")
    if data is None or proc.returncode not in (0, 1):
        return _run_failed(proc.returncode, output, target, lang)
    out = ui.Out()
    for step in data["steps"]:
        show_step(out, step, lang, data.get("impl", "steps"))
    if not data["steps"]:
        out.line(tr(lang, "No check ran (see -k?).", "Aucun test n'a tourné (voir -k ?)."))
    return proc.returncode


def ordered(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Critical checks first, then major, then minor (the report's order within each); the
    report's order alone when it gives no severity."""
    visible = [c for c in checks if not c.get("hidden")]
    return sorted(visible, key=lambda c: SEVERITY_ORDER.get(c.get("severity", ""), 1))


def severity_label(severity: str, lang: str) -> str:
    names = {"critical": tr(lang, "critical", "critique"), "major": tr(lang, "major", "majeur"),
             "minor": tr(lang, "minor", "mineur")}
    return names.get(severity, "")


def one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= REASON_WIDTH else line[:REASON_WIDTH - 1] + "…"


def show_step(out: ui.Out, step: dict[str, Any], lang: str, impl: str) -> None:
    s = registry.get(step["number"])
    full = step["points"] == step["max_points"]
    out.parts((f"{ui.label(s, lang)}: {step['points']}/{step['max_points']} points",
               "bold green" if full else "bold red"),
              (tr(lang, f"  (graded code: {impl})", f"  (code noté : {impl})")
               if impl != "steps" else "", None))
    checks = ordered(step["checks"])
    width = max((len(severity_label(c.get("severity", ""), lang)) for c in checks), default=0)
    for c in checks:
        sev = severity_label(c.get("severity", ""), lang).ljust(width)
        sev = f"{sev}  " if width else ""
        if c["passed"]:
            out.parts(("  ✓ ", "green"), (f"{sev}{c['doc']}", None))
        else:
            out.parts(("  ✗ ", "red"), (f"{sev}{c['doc']}", None),
                      (f"  (-{c['max_points']})", "red"))
    first = next((c for c in checks if not c["passed"]), None)
    number = s.number
    if first is None:
        if number < len(registry.steps()):
            out.line(tr(lang, f"Step {number} is done. Next: ./workshop check {number + 1}",
                        f"Étape {number} terminée. Ensuite : ./workshop check {number + 1}"),
                     "green")
        return
    section = f"{s.readme(lang)}#{first['section']}" if first.get("section") else s.readme(lang)
    out.line(tr(lang, f"First failing check: {first['doc']}",
                f"Premier test en échec : {first['doc']}"), "bold")
    out.line(tr(lang, f"  why:  {one_line(first['reason'] or 'no reason given')}",
                f"  pourquoi :  {one_line(first['reason'] or 'aucune raison donnée')}"))
    if first.get("why"):  # a critical check: what the bug it catches would do
        out.line(tr(lang, f"  risk: {one_line(first['why'])}",
                    f"  risque :  {one_line(first['why'])}"))
    out.line(tr(lang, f"  read: {section}", f"  à lire :  {section}"))
    if step.get("capped") and step["points"]:
        out.line(tr(lang, "A critical check failed: this step gives at most half its points.",
                    "Un test critique a échoué : cette étape donne au plus la moitié de ses "
                    "points."))
    out.line(tr(lang, f"Full tracebacks: ./workshop check {number} -v  (or --tb=long; "
                      f"pytest's own output: pytest steps/{s.folder})",
                f"Traces complètes : ./workshop check {number} -v  (ou --tb=long ; la sortie "
                f"de pytest elle-même : pytest steps/{s.folder})"))
    out.line(tr(lang, f"Stuck? ./workshop hint {number}", f"Bloqué ? ./workshop hint {number}"))


def _run_failed(code: int, output: str, target: str, lang: str) -> int:
    """pytest could not grade (a test file broken, a bad option): show why, in its own words."""
    lines = [line for line in output.strip().splitlines() if line.strip()]
    print("\n".join(lines[-30:]), file=sys.stderr)
    print(tr(lang, f"./workshop: pytest could not grade {target} (status {code}); the lines "
                   f"above say why. All of it: pytest {target}",
             f"./workshop : pytest n'a pas pu noter {target} (code {code}) ; les lignes "
             f"ci-dessus disent pourquoi. En entier : pytest {target}"), file=sys.stderr)
    return code if code else 3
