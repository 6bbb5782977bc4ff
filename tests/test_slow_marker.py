"""The slow marker (tests/slow.py): left out of ``./workshop test`` with one line that says how
many and how to run them; in with --slow, MOUNTLAB_SLOW=1, CI=true, or when named."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mountlab import registry

SLOW = "tests/vm/test_provision.py::test_a_newcomers_first_hour_on_a_fresh_debian"


def collected(*args: str, **env: str) -> tuple[list[str], str]:
    """The node ids pytest would run (``--collect-only``: nothing starts), and its output."""
    variables = {k: v for k, v in os.environ.items()
                 if k not in ("CI", "MOUNTLAB_SLOW", "MOUNTLAB_LANG", "LC_ALL", "LC_MESSAGES",
                              "LANG")}  # ./workshop test exports MOUNTLAB_LANG
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", *args], cwd=registry.KIT_ROOT,
                          env={**variables, **env}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return [line for line in proc.stdout.splitlines() if "::" in line], proc.stdout


def test_left_out_by_default_with_one_line_saying_how_to_run_them():
    ids, out = collected("tests/vm/test_provision.py")
    assert SLOW not in ids and ids, out
    assert "1 slow test not run" in out and "./workshop test --slow" in out, out
    assert "skipped" not in out


def test_the_line_in_french():
    _, out = collected("tests/vm/test_provision.py", LANG="fr_FR.UTF-8")
    assert "1 test lent non lancé" in out and "./workshop test --slow" in out, out


@pytest.mark.parametrize("args, env", [(["--slow"], {}), ([], {"MOUNTLAB_SLOW": "1"}),
                                       (["-m", "slow"], {})])
def test_in_when_asked(args, env):
    ids, out = collected("tests/vm/test_provision.py", *args, **env)
    assert SLOW in ids, out
    assert "slow test not run" not in out


def test_in_when_named():
    ids, out = collected(SLOW)
    assert ids == [SLOW], out


def test_ci_leaves_out_what_is_longer_than_its_budget():
    """slow(ci=False): the attacks graded in a guest each (tests/grading/conftest.py)."""
    from tests.grading.test_attacks import ATTACKS, UML_QUICK

    def uml(ids: list[str]) -> set[str]:
        return {i.split("[uml-", 1)[1].rstrip("]") for i in ids
                if "test_attack_earns_nothing" in i and "[uml-" in i}

    ids, out = collected("tests/grading/test_attacks.py", CI="true")
    assert uml(ids) == set(UML_QUICK), out
    assert "longer than CI's budget" in out and "--slow" in out
    ids, out = collected("tests/grading/test_attacks.py", MOUNTLAB_SLOW="1")
    assert uml(ids) == set(ATTACKS), out


VAGRANT_UP = "tests/vm/test_vagrant_up.py::"


def test_ci_stays_in_its_budget():
    """CI's budget: CI=true adds to the default run the `vagrant up` test (5 minutes) and no
    other slow test (the fresh machine runs the suite a second time); --slow adds them all."""
    default, _ = collected("tests")
    ci, out = collected("tests", CI="true")
    added = set(ci) - set(default)
    assert set(default) <= set(ci) and added, out[-3000:]
    assert all(i.startswith(VAGRANT_UP) for i in added), sorted(added)
    slow, out = collected("tests", MOUNTLAB_SLOW="1")
    assert SLOW in slow and SLOW not in ci, out[-3000:]
