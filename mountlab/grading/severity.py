"""How a step's points follow from its checks and their severity (docs/grading.md).

Each check is critical, major or minor in ``steps.toml``. A failed check costs its own points;
when a critical check failed, the step counts at most half of its points (rounded down), however
many critical checks failed; a minor check may be worth at most a fifth of its step. So a failed
critical check always costs at least half the step, a failed minor one at most a fifth.
"""

from __future__ import annotations

from collections.abc import Iterable

from mountlab.messages import say
from mountlab.registry import SEVERITIES

MINOR_SHARE = 5  # a minor check is worth at most 1/MINOR_SHARE of its step


def cap(step_points: int) -> int:
    """The most a step worth ``step_points`` gives when one of its critical checks failed."""
    return step_points // 2


def score(max_points: int, step_points: int, failed: Iterable[tuple[str, int]]) -> int:
    """The points of a step whose graded checks are worth ``max_points`` (the step's total
    ``step_points`` unless only some checks ran), given its failed checks as (severity, points)."""
    failed = list(failed)
    earned = max(0, max_points - sum(points for _, points in failed))
    if any(severity == "critical" for severity, _ in failed):
        return min(earned, cap(step_points))
    return earned


def rank(severity: str) -> int:
    """Sort key: critical first, then major, then minor (an unknown severity last)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def label(severity: str, lang: str | None = None) -> str:
    """The word a learner reads for ``severity`` (grading.toml), the name itself if unknown."""
    return say(f"grading.severity.{severity}", lang) if severity in SEVERITIES else severity


def mark(lang: str | None = None) -> str:
    """What precedes a failed critical check: "CRITICAL: " / "CRITIQUE : "."""
    return say("grading.critical_mark", lang)


def problem(severity: str | None, points: int, step_points: int) -> str:
    """Why a check's severity is not acceptable ("" when it is)."""
    if severity is None:
        return ("it has no severity in steps.toml: list it under severity.critical, "
                "severity.major or severity.minor of its step")
    if severity == "minor" and points * MINOR_SHARE > step_points:
        return (f"a minor check is worth at most a fifth of its step ({step_points} points), "
                f"not {points}")
    return ""


def capped_line(step_points: int, lang: str | None = None) -> str:
    """The line that tells a learner why a step gives only half its points."""
    return say("grading.capped", lang, cap=cap(step_points), points=step_points)
