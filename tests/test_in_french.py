"""A French class reads French: every step's checks run in French on the skeletons and on each
known-bug variant of tests/bugs (the classic mistakes and the unseen ones), and nothing the kit
itself says about them is English (tests/language.py tells, by stop words).

What the kit says of a run: the pytest plugin's summary, each check's title, reason and why, the
``./workshop check`` view, the Gradescope results and the grading table. What is not the kit's is
set aside: pytest's own lines and tracebacks, the learner code's output and messages. Each
variant's graded run is the one tests/test_known_bugs.py and tests/grading/test_severity.py
check the points of (``graded_variant``: one run per variant in a test session).
"""

from __future__ import annotations

import copy
import io

import pytest

from mountlab.grading import report as reports
from mountlab.grading.grader import Outcome
from mountlab.workshop import check, ui
from tests import language, skeletons
from tests.bugs import all_bugs
from tests.bugs.unseen import UNSEEN
from tests.conftest import VARIANT_LANG, run_checks

VARIANTS = all_bugs() + UNSEEN


def summary(stdout: str) -> list[str]:
    """The plugin's section of pytest's output: from ``= mountlab =`` to pytest's next line of
    its own (a ``===`` banner, ``FAILED ...``, or the closing count)."""
    lines, inside = [], False
    for line in stdout.splitlines():
        if "= mountlab =" in line:
            inside = True
            continue
        if inside and (line.startswith(("=", "FAILED ", "ERROR ")) or " passed" in line
                       or " failed" in line and line[:1].isdigit()):
            break
        if inside:
            lines.append(line)
    return lines


def kit_lines(data: dict, lang: str) -> list[str]:
    """Every line the kit says about one graded run (``run_checks``'s report and stdout)."""
    lines = summary(data["stdout"])
    for step in data["steps"]:
        for c in step["checks"]:
            lines += [c["doc"], c["reason"], c["why"]]
    shown = io.StringIO()
    out = ui.Out(shown, force_plain=True)
    for step in data["steps"]:
        check.show_step(out, step, lang, data.get("impl", "steps"))
    lines += shown.getvalue().splitlines()
    bare = copy.deepcopy({k: data[k] for k in ("steps", "points", "max_points")})
    for step in bare["steps"]:
        for c in step["checks"]:
            c["output"] = ""  # pytest's traceback: the learner's code and pytest's words
    outcome = Outcome("learner", "ok", bare)
    results = reports.to_gradescope(outcome, lang)
    lines += results["output"].splitlines()
    for test in results["tests"]:
        lines += [test["name"], *test["output"].splitlines()]
    lines += reports.to_table(outcome, lang).splitlines()
    return [line for line in lines if line.strip()]


def english(lines: list[str]) -> list[str]:
    return [line for line in lines if language.is_english(line)]


@pytest.fixture(scope="module")
def skeleton_runs(tmp_path_factory) -> dict[str, dict]:
    """The shipped skeletons of every step, graded once in each language."""
    tmp = tmp_path_factory.mktemp("skeletons")
    folder = skeletons.write_folder(tmp / "impl")
    return {lang: run_checks(["steps"], str(folder), tmp, "--lang", lang) for lang in ("en", "fr")}


def test_the_language_check_tells_english_from_french():
    """The tests below are only as good as this: English is caught, French and code are not."""
    assert language.is_english("  ✗ Both directories are created, missing parents included (-3)")
    assert language.is_english("      read steps/01/README.md#what-to-do")
    assert language.is_english("Stuck? ./workshop hint 1")
    assert not language.is_english("  Bloqué ? ./workshop hint 1")
    assert not language.is_english(
        "      à lire : steps/01/README.fr.md#what-to-do")
    assert not language.is_english(
        "votre code a levé VolumeError : [Errno 16] still a mount point after umount2: not "
        "removed: '/tmp/x/ctr'")  # the learner's words, after the kit's
    assert not language.is_english(
        "'/h:ro' a été refusé avec le message 'invalid mode: ro' ; Docker dit 'invalid volume "
        "specification: '/h:ro''")
    assert not language.is_english("read_only=True garde les options nosuid, nodev et noexec")


def test_skeletons_in_french(skeleton_runs):
    lines = kit_lines(skeleton_runs["fr"], "fr")
    assert len(lines) > 100 and all(s["points"] == 0 for s in skeleton_runs["fr"]["steps"])
    left = english(lines)
    assert not left, f"{len(left)} lines of {len(lines)} are English in French mode:\n" + \
        "\n".join(left[:40])


def test_skeletons_in_english_are_english(skeleton_runs):
    """The same measure finds the English of an English run: it would find it in French."""
    lines = kit_lines(skeleton_runs["en"], "en")
    assert len(english(lines)) > 0.8 * len(lines), "\n".join(
        line for line in lines if not language.is_english(line))


@pytest.mark.parametrize("bug", VARIANTS, ids=[b.id for b in VARIANTS])
def test_known_bug_in_french(bug, graded_variant):
    data = graded_variant(bug)
    assert VARIANT_LANG == "fr"
    lost = [c for s in data["steps"] for c in s["checks"] if not c["passed"]]
    assert lost and all(c["reason"] for c in lost), data["stdout"][-3000:]
    lines = kit_lines(data, "fr")
    left = english(lines)
    assert not left, f"'{bug.mistake}': English in French mode:\n" + "\n".join(left)
