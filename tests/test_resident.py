"""The run's checker (``mountlab.sandbox.resident``) runs the checks of a run one after the other:
what a check changes in its process never reaches the next one, a check that hangs is stopped and
the next one gets a new checker, and a check it cannot name is still run (in a checker of its
own)."""

import os
import time

import pytest

from mountlab.sandbox import check, resident
from mountlab.sandbox.throwaway import SandboxTimeout


@pytest.fixture(autouse=True)
def _ended():
    yield
    check.reap(block=True)  # the run's checker, as the plugin ends it after a run


def _changes_its_process(tmp_path):
    (tmp_path / "first").write_text(str(os.getpid()))
    os.chdir(tmp_path)
    os.environ["MOUNTLAB_LEFT_BY_A_CHECK"] = "1"
    os.umask(0o077)


def _finds_the_graders_state(tmp_path, cwd, umask):
    (tmp_path / "second").write_text(str(os.getpid()))
    assert os.getcwd() == cwd
    assert "MOUNTLAB_LEFT_BY_A_CHECK" not in os.environ
    now = os.umask(0)
    os.umask(now)
    assert now == umask


def _hangs(tmp_path):
    time.sleep(60)


def _says_who(tmp_path):
    (tmp_path / "who").write_text(str(os.getpid()))


def test_a_check_leaves_nothing_in_the_process_of_the_next(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    scratch = [str(tmp_path)]
    check.run(_changes_its_process, {"tmp_path": tmp_path}, scratch=scratch, timeout=10)
    check.run(_finds_the_graders_state, {"tmp_path": tmp_path, "cwd": os.getcwd(),
                                         "umask": umask}, scratch=scratch, timeout=10)
    first, second = ((tmp_path / name).read_text() for name in ("first", "second"))
    assert first == second == str(resident._current.pid)  # one process ran both


def test_after_a_hang_the_next_check_gets_a_new_checker(tmp_path):
    scratch = [str(tmp_path)]
    check.run(_says_who, {"tmp_path": tmp_path}, scratch=scratch, timeout=10)
    before = (tmp_path / "who").read_text()
    started = time.monotonic()
    with pytest.raises(SandboxTimeout):
        check.run(_hangs, {"tmp_path": tmp_path}, scratch=scratch, timeout=0.5)
    assert time.monotonic() - started < 5
    check.run(_says_who, {"tmp_path": tmp_path}, scratch=scratch, timeout=10)
    assert (tmp_path / "who").read_text() not in ("", before)


def test_a_check_it_cannot_name_runs_in_a_checker_of_its_own(tmp_path):
    scratch = [str(tmp_path)]
    check.run(_says_who, {"tmp_path": tmp_path}, scratch=scratch, timeout=10)
    resident_pid = (tmp_path / "who").read_text()

    def made_here(tmp_path):  # a closure: the run's checker cannot find it by name
        (tmp_path / "closure").write_text(str(os.getpid()))

    check.run(made_here, {"tmp_path": tmp_path}, scratch=scratch, timeout=10)
    assert (tmp_path / "closure").read_text() not in ("", resident_pid)


@pytest.mark.parametrize("forged", ["pickled code", "a function that is no check"])
def test_a_forged_request_on_its_pipe_runs_nothing(tmp_path, forged):
    """Only the grading process holds the write end of the checker's requests (the attack
    ``forge_proc_fd`` sprays every descriptor it can reach); were it reached, what it could
    write there is data that names a check, and nothing else is run."""
    import json
    import pickle

    from mountlab.sandbox import wire

    pwned = tmp_path / "pwned"

    class Runs:
        def __reduce__(self):
            return (os.mkdir, (str(pwned),))

    check.run(_says_who, {"tmp_path": tmp_path}, scratch=[str(tmp_path)], timeout=10)
    named = {"module": "os", "qualname": "mkdir", "kwargs": {"path": str(pwned)},
             "timeout": 5, "leaves_mounts": False, "cwd": "/", "umask": 0o22, "env": {}}
    data = pickle.dumps(Runs()) if forged == "pickled code" else json.dumps(named).encode()
    running = resident._current
    resident._send(running.requests, data)
    answer = wire.receive(running.answers, time.monotonic() + 10)
    assert answer == {"fallback": True}
    assert not pwned.exists()
    check.run(_says_who, {"tmp_path": tmp_path}, scratch=[str(tmp_path)], timeout=10)
    assert (tmp_path / "who").read_text() == str(running.pid)  # it still serves the run
