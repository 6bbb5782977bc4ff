"""Report writers: one graded submission (``grader.Outcome``) in the formats graders read.

- ``json``: the kit's own report (the pytest plugin's), with the submission's status and totals;
- ``junit``: pytest's JUnit XML, each check's points in ``<property name="max_score">``;
- ``gradescope``: ``results.json`` as Gradescope's autograder specification describes it;
- ``github``: the runner payload that GitHub Classroom's ``autograding-grading-reporter`` reads;
- ``table``: for a person at a terminal (rich when it is a tty, plain text otherwise).
"""

from __future__ import annotations

import ast
import base64
import functools
import json
import os
import sys
from typing import TextIO
from xml.sax.saxutils import escape, quoteattr

from mountlab import registry
from mountlab.grading import severity as sev
from mountlab.grading.grader import Outcome
from mountlab.messages import say

FORMATS = ("table", "json", "junit", "gradescope", "github")
OUTPUT_LIMIT = 8000  # per test: Gradescope and GitHub show it in a page, not a log viewer


def _checks_by_step(outcome: Outcome) -> list[tuple[dict, list[dict]]]:
    return [(s, s["checks"]) for s in (outcome.report or {}).get("steps", [])]


def _critical_line(check: dict, lang: str = "en") -> str:
    """"CRITICAL: <why>" for a failed critical check, "" otherwise."""
    if check["passed"] or check.get("severity") != "critical":
        return ""
    why = registry.get(check["step"]).why_critical(check["name"], lang) or check.get("why", "")
    return f"{sev.mark(lang)}{why}".rstrip(": ")


def _penalty(step: dict) -> int:
    """The points a step lost beyond its failed checks' own: the critical cap (0 without)."""
    failed = sum(c["max_points"] for c in step["checks"] if not c["passed"] and not c.get("hidden"))
    return max(0, step["max_points"] - failed) - step["points"] if step.get("capped") else 0


def _penalty_name(step: dict, lang: str = "en") -> str:
    s = registry.get(step["number"])
    return say("grading.penalty_name", lang, label=s.label(lang), cap=sev.cap(s.points),
               points=s.points)


def _by_severity(checks: list[dict]) -> list[dict]:
    """Failed checks first, the gravest first; passed ones after, in their order."""
    return sorted(checks, key=lambda c: (c["passed"], sev.rank(c.get("severity", "major"))))


def _clip(text: str, limit: int = OUTPUT_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + "\n[... cut]"


def _feedback(check: dict, lang: str = "en") -> str:
    """What a learner reads for a lost check: the reason, where to read, then the traceback."""
    if check["passed"]:
        return ""
    lines = [line for line in (_critical_line(check, lang),
                               check.get("reason") or say("grading.check_failed", lang))
             if line]
    readme = registry.get(check["step"]).readme(lang)
    section = check.get("section")
    lines.append(say("grading.read_file", lang, path=readme + (f"#{section}" if section else "")))
    if check.get("output"):
        lines += ["", check["output"]]
    return _clip("\n".join(lines))


def _status_note(outcome: Outcome, lang: str | None = None) -> str:
    if outcome.status == "ok":
        return ""
    if outcome.status == "timeout":
        return say("grading.timed_out_note", lang)
    return say("grading.grading_problem", lang, problem=outcome.status[len("error: "):])


# -- json -----------------------------------------------------------------------------------------

def to_json(outcome: Outcome) -> dict:
    """The plugin's report, plus who, how it went and the totals with instructor-only checks."""
    data = dict(outcome.report or {"steps": [], "points": 0, "max_points": 0})
    data.update(student=outcome.student, status=outcome.status,
                duration=round(outcome.duration, 3), total=outcome.total,
                max_total=outcome.max_total, backend=outcome.backend)
    return data


# -- gradescope -----------------------------------------------------------------------------------

def to_gradescope(outcome: Outcome, lang: str = "en") -> dict:
    """``results.json`` for Gradescope: one test per check; instructor-only checks are
    ``after_published``."""
    tests = []
    summary = []
    critical = []
    for step, checks in _checks_by_step(outcome):
        s = registry.get(step["number"])
        summary.append(say("grading.summary_line", lang, label=s.label(lang),
                           points=step["points"], max_points=step["max_points"]))
        for index, check in enumerate(checks, 1):
            if _critical_line(check, lang):
                critical.append(say("grading.critical_line", lang, label=s.label(lang),
                                    doc=check["doc"], why=_critical_line(check, lang)))
            tests.append({
                "name": say("grading.check_name", lang, label=s.label(lang), doc=check["doc"]),
                "number": f"{s.number}.{index}",
                "score": check["points"],
                "max_score": check["max_points"],
                "status": "passed" if check["passed"] else "failed",
                "output": _feedback(check, lang),
                "output_format": "text",
                "tags": [f"step{s.folder}", check.get("severity", "major")],
                "visibility": "after_published" if check.get("hidden") else "visible",
                "extra_data": {"check": check["nodeid"],
                               "severity": check.get("severity", "major")},
            })
        if _penalty(step):  # so that the tests' scores add up to the step's
            tests.append({"name": _penalty_name(step, lang), "number": f"{s.number}.0",
                          "score": -_penalty(step), "max_score": 0, "status": "failed",
                          "output": sev.capped_line(s.points, lang).strip(),
                          "output_format": "text",
                          "tags": [f"step{s.folder}", "critical"], "visibility": "visible"})
    note = _status_note(outcome)
    if critical:  # first, with why: these are what to fix before anything else
        critical = [say("grading.critical_head", lang), *critical, ""]
    output = "\n".join(([f"**{note}**", ""] if note else []) + critical + summary) or \
        say("grading.no_check_ran", lang)
    return {
        "score": outcome.total,
        "execution_time": int(round(outcome.duration)),
        "output": output,
        "output_format": "md",
        "test_output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {"status": outcome.status, "max_total": outcome.max_total,
                       "backend": outcome.backend},
        "tests": tests,
    }


def gradescope_failure(message: str, execution_time: float = 0.0) -> dict:
    """The results.json to write when grading itself failed: Gradescope still needs one."""
    return {"score": 0, "execution_time": int(round(execution_time)),
            "output": say("grading.autograder_failed", message=message),
            "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden",
            "extra_data": {"status": f"error: {message}"}, "tests": []}


# -- github ---------------------------------------------------------------------------------------

@functools.cache
def _line_of(path: str, name: str) -> int:
    """The line where the check ``name`` is defined in the kit's test file ``path``."""
    try:
        tree = ast.parse((registry.KIT_ROOT / path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return 0
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node.lineno
    return 0


def to_github(outcome: Outcome, lang: str = "en") -> dict:
    """The payload of one GitHub Classroom runner (``version 1``), points per check."""
    tests = []
    for step, checks in _checks_by_step(outcome):
        s = registry.get(step["number"])
        for check in checks:
            filename = check["nodeid"].split("::", 1)[0]
            could_not_run = _could_not_run(check.get("reason", ""))
            tests.append({
                "name": say("grading.check_name", lang, label=s.label(lang), doc=check["doc"]),
                "status": "pass" if check["passed"] else ("error" if could_not_run else "fail"),
                "score": check["points"],
                "message": _feedback(check, lang),
                "test_code": check["nodeid"],
                "filename": filename,
                "line_no": _line_of(filename, check["name"]),
                "duration": round(check.get("duration", 0.0), 3),
            })
        if _penalty(step):  # so that the tests' scores add up to the step's
            tests.append({"name": _penalty_name(step, lang), "status": "fail",
                          "score": -_penalty(step),
                          "message": sev.capped_line(s.points, lang).strip(),
                          "test_code": "", "filename": "", "line_no": 0, "duration": 0.0})
    if outcome.status != "ok":  # the reporter fails the job on "error" as on "fail"
        status = "error"
    else:
        status = "pass" if tests and all(t["status"] == "pass" for t in tests) else "fail"
    if outcome.status != "ok":
        tests.append({"name": say("grading.grading_of_submission", lang), "status": "error",
                      "score": 0, "message": _status_note(outcome, lang), "test_code": "",
                      "filename": "",
                      "line_no": 0, "duration": round(outcome.duration, 3)})
    return {"version": 1, "status": status, "max_score": outcome.max_total, "tests": tests}


def github_output_line(payload: dict) -> str:
    """``result=<base64 JSON>``: the line for ``$GITHUB_OUTPUT`` that the reporter decodes."""
    encoded = base64.b64encode(json.dumps(payload).encode()).decode()
    return f"result={encoded}\n"


# -- junit ----------------------------------------------------------------------------------------

def to_junit(outcome: Outcome) -> str:
    """pytest's own JUnit XML; a small one saying what went wrong when the run wrote none."""
    if outcome.junit:
        return outcome.junit
    cases = []
    for step, checks in _checks_by_step(outcome):  # salvaged points of a stopped run
        for check in checks:
            body = "" if check["passed"] else \
                f'<failure message={quoteattr(check.get("reason") or "not run")} />'
            cases.append(
                f'<testcase classname={quoteattr(check["nodeid"].split("::")[0])} '
                f'name={quoteattr(check["name"])} time="{check.get("duration", 0):.3f}">'
                f'<properties><property name="max_score" value="{check["max_points"]}" />'
                f'<property name="step" value="{step["number"]}" />'
                f'<property name="severity" value={quoteattr(check.get("severity", "major"))} />'
                f'<property name="check" value={quoteattr(check["nodeid"])} /></properties>'
                f'{body}</testcase>')
    cases.append(f'<testcase classname="mountlab" name="grading"><error message='
                 f'{quoteattr(outcome.status)}>{escape(outcome.log[-4000:])}</error></testcase>')
    return ('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="mountlab" '
            f'errors="1" failures="0" skipped="0" tests="{len(cases)}">' + "".join(cases)
            + "</testsuite></testsuites>\n")


# -- table ----------------------------------------------------------------------------------------

def fancy(stream: TextIO | None = None) -> bool:
    """Colours and boxes only for a person at a terminal that wants them."""
    stream = stream or sys.stdout
    return stream.isatty() and not os.environ.get("NO_COLOR") and \
        os.environ.get("TERM") != "dumb"


def to_table(outcome: Outcome, lang: str = "en") -> str:
    """Plain text: one line per step, and the reason for each lost check."""
    lines = [_table_head(outcome, lang)]
    for step, checks in _checks_by_step(outcome):
        s = registry.get(step["number"])
        points, max_points = outcome.step_points(s.number)
        lines.append(say("grading.table_step", lang, label=s.label(lang), points=points,
                         max_points=max_points))
        if step.get("capped"):
            lines.append("  " + sev.capped_line(s.points, lang))
        for check in _by_severity(checks):
            if not check["passed"]:
                hidden = say("grading.instructor_only", lang) if check.get("hidden") else ""
                lines.append(f"    ✗ {_mark(check, lang)}{check['doc']} "
                             f"(-{check['max_points']}){hidden}")
                if _critical_line(check, lang):
                    lines.append(f"        {_critical_line(check, lang)}")
                if check.get("reason"):
                    lines.append(f"        {check['reason'].splitlines()[0][:200]}")
    return "\n".join(lines) + "\n"


def _table_head(outcome: Outcome, lang: str) -> str:
    return say("grading.table_head", lang, student=outcome.student, total=outcome.total,
               max_total=outcome.max_total, status=outcome.status, duration=outcome.duration)


def _could_not_run(reason: str) -> bool:
    """The plugin's reason says the check could not run at all, in any language."""
    from mountlab import lang as language

    return any(reason.startswith(say("grading.could_not_run", code, why="").rstrip())
               for code in language.LANGS)


def _mark(check: dict, lang: str = "en") -> str:
    return sev.mark(lang) if check.get("severity") == "critical" else ""


def print_table(outcome: Outcome, lang: str = "en") -> None:
    if not fancy():
        sys.stdout.write(to_table(outcome, lang))
        return
    from rich.console import Console  # lazily: only a terminal needs it
    from rich.table import Table

    table = Table(title=_table_head(outcome, lang))
    table.add_column(say("grading.column_step", lang))
    table.add_column(say("grading.column_points", lang), justify="right")
    table.add_column(say("grading.column_lost", lang))
    for step, checks in _checks_by_step(outcome):
        s = registry.get(step["number"])
        points, max_points = outcome.step_points(s.number)
        lost = "\n".join(f"✗ {_mark(c, lang)}{c['doc']} (-{c['max_points']})"
                         + (say("grading.instructor_only", lang) if c.get("hidden") else "")
                         for c in _by_severity(checks) if not c["passed"])
        style = "green" if points == max_points else "red"
        table.add_row(s.label(lang), f"[{style}]{points}/{max_points}[/]", lost)
    Console().print(table)


def render(outcome: Outcome, fmt: str, lang: str = "en") -> str:
    """``outcome`` as text in format ``fmt`` (one of ``FORMATS``)."""
    if fmt == "table":
        return to_table(outcome, lang)
    if fmt == "junit":
        return to_junit(outcome)
    data = {"json": to_json, "gradescope": lambda o: to_gradescope(o, lang),
            "github": lambda o: to_github(o, lang)}[fmt](outcome)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
