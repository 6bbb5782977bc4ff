"""Instructor-only checks of step 1: an example of hidden checks.

They count in ``./workshop grade`` and ``grade-class`` (and in Gradescope, shown to learners only
once the grades are published), but not in the learner's own ``pytest steps/01``, and
``./workshop release`` leaves this folder out. ``hidden=True`` keeps them out of the step's total
in ``steps.toml``: they come on top of it.

The file name must differ from every file name under ``steps/`` (pytest imports test files by
their base name): end it in ``_hidden.py``. What they say is in ``messages.toml`` beside this
file, in English and French.
"""

import os

import pytest

from mountlab import messages
from mountlab.grading.checks import umask
from mountlab.impl import step

say = messages.beside(__file__)


@pytest.mark.points(2, hidden=True, section="modes-and-the-umask")
def test_the_umask_is_left_as_it_was(tmp_path):
    with umask(0o027):
        step(1).setup_volume(str(tmp_path / "host" / "vol"), str(tmp_path / "rootfs" / "vol"))
        after = os.umask(0o027)
    assert after == 0o027, say("umask_changed", after=after)


@pytest.mark.points(1, hidden=True, section="what-to-do")
def test_relative_paths_are_taken_from_the_working_directory(tmp_path):
    os.chdir(tmp_path)  # the check runs in a throwaway process: changing its directory is fine
    step(1).setup_volume("host/vol", "rootfs/srv/vol")
    host, inside = tmp_path / "host" / "vol", tmp_path / "rootfs" / "srv" / "vol"
    created = host.is_dir() and inside.is_dir()
    assert created, say("relative_not_created", cwd=tmp_path)
