"""Instructor-only checks of step 1: an example of hidden checks.

They count in ``./workshop grade`` and ``grade-class`` (and in Gradescope, shown to learners only
once the grades are published), but not in the learner's own ``pytest steps/01``, and
``./workshop release`` leaves this folder out. ``hidden=True`` keeps them out of the step's total
in ``steps.toml``: they come on top of it.

The file name must differ from every file name under ``steps/`` (pytest imports test files by
their base name): end it in ``_hidden.py``.
"""

import os

import pytest

from mountlab.grading.checks import umask
from mountlab.impl import step


@pytest.mark.points(2, hidden=True, section="modes-and-the-umask")
def test_the_umask_is_left_as_it_was(tmp_path):
    """The process umask is the same after the call (os.umask(0) must be undone)"""
    with umask(0o027):
        step(1).setup_volume(str(tmp_path / "host" / "vol"), str(tmp_path / "rootfs" / "vol"))
        after = os.umask(0o027)
    assert after == 0o027, (
        f"the umask was 027 before the call and {after:03o} after it: a function that changes "
        "the umask of its process must restore it, or every file created later gets the wrong "
        "mode")


@pytest.mark.points(1, hidden=True, section="what-to-do")
def test_relative_paths_are_taken_from_the_working_directory(tmp_path):
    """Relative paths are created below the current directory"""
    os.chdir(tmp_path)  # the check runs in a throwaway process: changing its directory is fine
    step(1).setup_volume("host/vol", "rootfs/srv/vol")
    assert (tmp_path / "host" / "vol").is_dir() and (tmp_path / "rootfs" / "srv" / "vol").is_dir()
