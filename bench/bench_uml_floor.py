"""What a User-Mode Linux guest costs any workload shaped like a grading, kit or not: two peers
run natively and in a guest, side by side.

    sudo .venv/bin/python bench/bench_uml_floor.py [--checks 98] [--runs 3]

- ``pytest``: a bare pytest run of ``--checks`` trivial tests (each writes a file in its
  ``tmp_path`` and stats it): no sandbox, no kit, the test runner alone;
- ``fork``: ``--checks`` times, a fork of an interpreter that has imported what the kit's
  subjects import (``zygote.preload``), one JSON request and answer on a pipe (the child stats
  ``/``), the child's exit and its reaping: the least a check costs when learner code runs in a
  process of its own, as ``docs/grading.md`` requires.

Each is timed inside the same interpreter natively and in one guest (as guest root), the median of
``--runs``; the guest's boot is not counted. The ratios are the floor below which no design that
runs pytest and a process per check in a guest of this kernel can go; compare them with
``bench_uml.py``'s grading ratio. Needs root and ``user-mode-linux``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mountlab.backends import uml  # noqa: E402

_TESTS = '''import os

import pytest


@pytest.mark.parametrize("n", range({checks}))
def test_trivial(n, tmp_path):
    (tmp_path / "f").write_text(str(n))
    assert os.stat(tmp_path / "f").st_size == len(str(n))
'''


def pytest_seconds(folder: Path) -> float:
    """Wall seconds of one bare pytest run of the trivial tests in ``folder``."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--basetemp", str(folder / "tmp"), str(folder / "test_trivial.py")],
                          env={"PATH": "/usr/bin:/bin", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
                          cwd=folder, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the trivial tests failed:\n{done.stdout[-2000:]}")
    return time.monotonic() - started


def fork_seconds(checks: int) -> float:
    """Wall seconds of ``checks`` forks of a preloaded interpreter, each answering one request."""
    from mountlab.sandbox import zygote

    environment = dict(os.environ)  # preload leaves the zygote's: MOUNTLAB_UML* would be lost
    try:
        zygote.preload()
        one_fork()  # its first: what the loop's every fork finds already done
        started = time.monotonic()
        for _ in range(checks):
            one_fork()
        return time.monotonic() - started
    finally:
        os.environ.clear()
        os.environ.update(environment)


def one_fork() -> None:
    requests_r, requests_w = os.pipe()
    answers_r, answers_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        asked = json.loads(os.read(requests_r, 4096))
        os.write(answers_w, json.dumps({"returned": os.stat(asked["path"]).st_mode}).encode())
        os._exit(0)
    os.write(requests_w, json.dumps({"path": "/"}).encode())
    json.loads(os.read(answers_r, 4096))
    os.waitpid(pid, 0)
    for fd in (requests_r, requests_w, answers_r, answers_w):
        os.close(fd)


def measure(checks: int, runs: int) -> dict[str, list[float]]:
    """Here: ``runs`` of each peer, in turn."""
    found: dict[str, list[float]] = {"pytest": [], "fork": []}
    with tempfile.TemporaryDirectory(prefix="mountlab-floor-") as tmp:
        folder = Path(tmp)
        (folder / "test_trivial.py").write_text(_TESTS.format(checks=checks))
        for _ in range(runs):
            found["pytest"].append(pytest_seconds(folder))
            found["fork"].append(fork_seconds(checks))
    return found


def in_guest(checks: int, runs: int) -> dict[str, list[float]]:
    """The same, in one guest: this script again, as guest root."""
    command = [sys.executable, str(Path(__file__).resolve()), "--inside",
               "--checks", str(checks), "--runs", str(runs)]
    with tempfile.TemporaryFile() as out:
        result = uml.run([command], cwd="/", env={"PATH": "/usr/bin:/bin"},
                         visible=[str(ROOT)], timeout=1200, stdout=out,
                         stderr=subprocess.DEVNULL)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if result.status != 0:
        raise SystemExit(f"the guest did not run the peers (status {result.status}):\n"
                         f"{text[-2000:]}{result.log[-2000:]}")
    return json.loads(text.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=98, help="a grading's checks (98)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:  # in the guest: the raw figures, as one JSON line
        print(json.dumps(measure(args.checks, args.runs)))
        return 0
    if uml.binary() is None:
        raise SystemExit("needs user-mode-linux (apt-get install user-mode-linux)")
    native = measure(args.checks, args.runs)
    guest = in_guest(args.checks, args.runs)
    print(f"{args.checks} checks, the median of {args.runs} runs (the guest's boot apart)")
    for peer, what in (("pytest", "bare pytest, trivial tests"),
                       ("fork", "a process per check (fork, JSON, exit, wait)")):
        here, there = statistics.median(native[peer]), statistics.median(guest[peer])
        print(f"{what:46} native {here:7.2f} s ({here / args.checks * 1e3:6.1f} ms each)   "
              f"guest {there:7.2f} s ({there / args.checks * 1e3:6.1f} ms each)   "
              f"{there / here:5.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
