"""A graded class as data: saved beside the gradebook (``gradebook.json``), read back, and summed
up for the class report (the checks the class fails most, the submissions that went wrong).

``gradebook.json`` holds each learner's report as ``./workshop grade --format json`` writes it,
without the tracebacks (the reasons stay): from it, ``./workshop report`` rebuilds the same
numbers as the CSV, through the same ``Outcome``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mountlab import registry
from mountlab.grading import report, severity
from mountlab.grading.grader import Outcome

FORMAT = "mountlab-gradebook/1"


def save(outcomes: list[Outcome], path: Path) -> None:
    """Write the class to ``path`` (JSON), in one piece."""
    learners = []
    for outcome in outcomes:
        data = report.to_json(outcome)
        for step in data.get("steps", []):
            for check in step.get("checks", []):
                check["output"] = ""  # tracebacks: in --reports, not in the class file
        learners.append(data)
    doc = {"format": FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "learners": learners}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


class GradebookError(ValueError):
    """The file is not a class saved by ``grade-class``."""


def load(path: Path) -> tuple[list[Outcome], str]:
    """The outcomes saved in ``path`` and when they were graded."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise GradebookError(f"{path}: cannot read it ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise GradebookError(f"{path}: not a class saved by ./workshop grade-class (the "
                             "gradebook.json written beside its CSV)")
    outcomes = []
    for data in doc.get("learners", []):
        graded = data if data.get("steps") else None
        outcomes.append(Outcome(student=str(data.get("student", "?")),
                                status=str(data.get("status", "ok")), report=graded,
                                duration=float(data.get("duration", 0.0))))
    return sorted(outcomes, key=lambda o: o.student), str(doc.get("created", ""))


@dataclass
class CommonFailure:
    """A check that some learners fail: how many, and what their runs said."""

    step: int
    name: str
    doc: str
    severity: str
    why: str  # for critical checks
    learners: list[str] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)


def common_failures(outcomes: list[Outcome], lang: str = "en") -> list[CommonFailure]:
    """Every failed check of the class, critical first, then the most learners first."""
    found: dict[tuple[int, str], CommonFailure] = {}
    for outcome in outcomes:
        for check in outcome.checks():
            if check.get("passed"):
                continue
            key = (check["step"], check["name"])
            level = check.get("severity", "major")
            entry = found.get(key)
            if entry is None:
                step = registry.get(check["step"])
                entry = found[key] = CommonFailure(
                    step=check["step"], name=check["name"], doc=check.get("doc", check["name"]),
                    severity=level, why=step.why_critical(check["name"], lang)
                    or check.get("why", ""))
            entry.learners.append(outcome.student)
            reason = (check.get("reason") or "").splitlines()
            entry.reasons[_short(reason[0]) if reason else ""] += 1
    return sorted(found.values(), key=lambda f: (severity.rank(f.severity), -len(f.learners),
                                                 f.step, f.name))


# A check's scratch folder differs in every run (pytest's, or the grader's basetemp):
# "/tmp/.../pytest-7/test_x0/ctr" -> "…/ctr", so that one reason from several learners counts once.
_SCRATCH = re.compile(r"/[^\s'\"]*?/(?:pytest-\d+|mountlab-grade-[^/\s'\"]+/tmp)/[^/\s'\"]+")


def _short(text: str, limit: int = 240) -> str:
    text = _SCRATCH.sub("…", text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def problems(outcomes: list[Outcome]) -> list[Outcome]:
    """The submissions whose grading did not go normally (timeout, crash, refused)."""
    return [o for o in outcomes if o.status != "ok"]
