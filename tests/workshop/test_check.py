"""``./workshop check N``: the kit's own short summary from the plugin's JSON report, not pytest's
tracebacks; pytest's output when asked for it."""

from __future__ import annotations

import io
import re

import pytest

from mountlab import registry
from mountlab.workshop import check, ui

from .conftest import Kit, no_traceback

STEPS = registry.steps()


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.folder)
def test_check_on_the_skeleton_is_short_and_says_what_to_read(kit: Kit, step):
    proc = kit.run("check", str(step.number))
    no_traceback(proc)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) <= 80, f"{len(lines)} lines:\n{proc.stdout}"
    assert lines[0] == f"{step.label()}: 0/{step.points} points"
    # one line per check, each lost with its points: together, the step's total
    lost = [re.fullmatch(r"  ✗ (.+)  \(-(\d+)\)", line) for line in lines
            if line.startswith("  ✗ ")]
    assert lost and all(lost), proc.stdout
    assert sum(int(m.group(2)) for m in lost) == step.points, proc.stdout
    assert "  ✓ " not in proc.stdout
    doc = lost[0].group(1).split("  ")[-1]  # after the severity, when there is one
    assert f"First failing check: {doc}" in lines
    assert any(line.startswith(f"  read: {step.readme()}#") for line in lines), proc.stdout
    assert any(line.startswith("  why:  ") and "NotImplementedError" in line for line in lines)
    assert f"./workshop check {step.number} -v" in proc.stdout and "--tb=long" in proc.stdout
    assert "Traceback" not in proc.stdout and "FAILED" not in proc.stdout


def test_check_of_a_finished_step_says_what_is_next(kit: Kit):
    kit.solve(1)
    proc = kit.run("check", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("Step 1 — Create the volume directories: 20/20 points\n")
    assert proc.stdout.count("  ✓ ") == 7 and "✗" not in proc.stdout
    assert "Next: ./workshop check 2" in proc.stdout


def test_check_speaks_french(kit: Kit):
    proc = kit.run("check", "1", "--lang", "fr")
    assert proc.returncode == 1
    assert proc.stdout.startswith("Étape 1 — ")
    assert "Premier test en échec" in proc.stdout and "steps/01/README.fr.md#" in proc.stdout
    assert "Traces complètes : ./workshop check 1 -v" in proc.stdout


def test_verbose_gives_pytests_own_output(kit: Kit):
    proc = kit.run("check", "1", "-v", "--tb=short")
    assert proc.returncode == 1
    assert "steps/01/test_setup_volume.py::" in proc.stdout and "FAILED" in proc.stdout
    assert "First failing check" not in proc.stdout


def test_options_that_keep_the_summary():
    assert check.summary_compatible([])
    assert check.summary_compatible(["--impl", "solutions", "-x", "-k", "mode"])
    assert check.summary_compatible(["--impl=solutions", "--check-timeout", "3"])
    for extra in (["-v"], ["--tb=long"], ["-s"], ["--impl", "solutions", "-vv"], ["-q"]):
        assert not check.summary_compatible(extra), extra


def _step_report(**severities: str) -> dict:
    names = ["a", "b", "c", "d"]
    return {"number": 2, "points": 1, "max_points": 10, "checks": [
        {"nodeid": f"steps/02/test_x.py::test_{n}", "doc": f"check {n}", "passed": n == "a",
         "max_points": 1 if n == "a" else 3, "reason": f"reason {n}", "section": f"sec-{n}",
         **({"severity": severities[n]} if n in severities else {})} for n in names]}


def test_critical_checks_come_first_and_explain_the_failure():
    out = io.StringIO()
    step = _step_report(a="minor", b="minor", c="critical", d="major")
    step["capped"] = True
    step["checks"][2]["why"] = "the host's files would be lost"
    check.show_step(ui.Out(out, force_plain=True), step, "en", "steps")
    lines = out.getvalue().splitlines()
    assert [line.split()[-2 if "✗" in line else -1] for line in lines[1:5]] == \
        ["c", "d", "a", "b"]
    assert lines[1].startswith("  ✗ critical  check c")
    assert "First failing check: check c" in lines
    assert "  why:  reason c" in lines and "  read: steps/02/README.md#sec-c" in lines
    assert "  risk: the host's files would be lost" in lines
    assert "A critical check failed: this step gives at most half its points." in lines


def test_without_severity_the_reports_order_stays():
    out = io.StringIO()
    check.show_step(ui.Out(out, force_plain=True), _step_report(), "en", "steps")
    lines = out.getvalue().splitlines()
    assert lines[1] == "  ✓ check a" and lines[2] == "  ✗ check b  (-3)"
    assert "First failing check: check b" in lines
