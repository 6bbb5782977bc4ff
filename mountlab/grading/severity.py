"""How a step's points follow from its checks and their severity (docs/grading.md).

Each check is critical, major or minor in ``steps.toml``. A failed check costs its own points,
but a failed critical check costs at least half of its step (rounded up, so that what is left is
at most half), and a minor check may be worth at most a fifth of its step. The step's points are
its maximum less what its failed checks cost, never below zero.
"""

from __future__ import annotations

from collections.abc import Iterable

from mountlab.registry import SEVERITIES

MINOR_SHARE = 5  # a minor check is worth at most 1/MINOR_SHARE of its step

#: The words a learner reads, by language.
LABELS = {
    "en": {"critical": "critical", "major": "major", "minor": "minor"},
    "fr": {"critical": "critique", "major": "majeur", "minor": "mineur"},
}


def cost(severity: str, points: int, step_points: int) -> int:
    """What failing a check worth ``points`` costs in a step worth ``step_points``."""
    if severity == "critical":
        return max(points, (step_points + 1) // 2)
    return points


def score(max_points: int, step_points: int, failed: Iterable[tuple[str, int]]) -> int:
    """The points of a step whose graded checks are worth ``max_points`` (the step's total
    ``step_points`` unless only some checks ran), given its failed checks as (severity, points)."""
    return max(0, max_points - sum(cost(sev, pts, step_points) for sev, pts in failed))


def rank(severity: str) -> int:
    """Sort key: critical first, then major, then minor (an unknown severity last)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def label(severity: str, lang: str = "en") -> str:
    return LABELS.get(lang, LABELS["en"]).get(severity, severity)


def problem(severity: str | None, points: int, step_points: int) -> str:
    """Why a check's severity is not acceptable ("" when it is)."""
    if severity is None:
        return ("it has no severity in steps.toml: list it under severity.critical, "
                "severity.major or severity.minor of its step")
    if severity == "minor" and points * MINOR_SHARE > step_points:
        return (f"a minor check is worth at most a fifth of its step ({step_points} points), "
                f"not {points}")
    return ""
