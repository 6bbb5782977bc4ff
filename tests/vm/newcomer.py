"""A newcomer's first hour on a fresh Debian 12, run beside the rest of the suite.

It takes about as long as the whole suite (``./workshop test`` runs again inside the fresh
machine), mostly waiting on downloads and on processes of its own: started when collection ends
(tests/background.py), it runs in a thread while the other tests run, and its test
(tests/vm/test_provision.py) waits for it and asserts on what it recorded. What it checks is
asserted here, on the way, so that a failure stops it where it happened.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests import learner_work, slow
from tests.cpu_time import CpuGroup
from tests.vm import fresh_machine

README = fresh_machine.ROOT / "README.md"
KIT = "/root/mountlab"  # where root on a fresh VM clones it: root's home, mode 0700
MAX_SKIPPED = 3
TIMINGS = fresh_machine.CACHE / "timings.json"
LAST_LOG = fresh_machine.CACHE / "last-run.log"


def quick_start() -> list[str]:
    """The README's plain-Linux quick start: its two commands, as written (comments aside)."""
    text = README.read_text()
    block = re.search(r"\*\*Plain Linux\*\*.*?```sh\n(.*?)```", text, re.S)
    assert block, "README.md: no ```sh block after **Plain Linux**"
    commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    commands = [c for c in commands if c]
    assert len(commands) == 2, f"README.md's quick start has {len(commands)} commands: {commands}"
    return commands


def literally(command: str, has_sudo: bool) -> str:
    """The command as written, but ``sudo `` dropped where there is no sudo (a minimal Debian)."""
    return command if has_sudo or not command.startswith("sudo ") else command[len("sudo "):]


def pytest_summary(output: str) -> dict[str, int]:
    """The counts on pytest's last summary line (``12 passed, 3 skipped in 9.1s``)."""
    lines = [line for line in output.splitlines() if re.search(r"\b(passed|failed|error)", line)]
    assert lines, f"no pytest summary line:\n{output[-5000:]}"
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", lines[-1].strip("= "))}


def full_points(output: str, step: int) -> int:
    """How many gradings of ``step`` in ``output`` gave full points; fails on any that did not."""
    scores = re.findall(rf"Step {step}\b[^\n]*?(\d+)/(\d+) points", output)
    assert scores, f"no 'Step {step} ...: N/M points' line:\n{output}"
    for got, total in scores:
        assert int(got) == int(total) > 0, output
    return len(scores)


def cannot_run() -> str:
    """Why the fresh machine cannot be made here ("" when it can)."""
    missing = [t for t in ("debootstrap", "unshare", "git")
               if not shutil.which(t, path=fresh_machine.PATH)]
    if os.geteuid() != 0 or missing:
        return (f"needs root and {', '.join(missing) or 'nothing else'}: run ./workshop test "
                "as root (it installs debootstrap)")
    return ""


@dataclass
class Newcomer:
    """The scenario, in a thread: ``start()``, then ``wait()``; ``log`` holds every command's
    output, ``timings`` its seconds, ``error`` the first failure."""

    work: Path = field(init=False)
    target: Path = field(init=False)
    env: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds, where cgroups allow
    log: list[str] = field(default_factory=list)
    error: BaseException | None = None
    learner: dict[int, str] = field(default_factory=dict)
    left_behind: list[str] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _proc: subprocess.Popen | None = None
    _group: CpuGroup | None = None
    _stopping: bool = False

    def start(self) -> Newcomer:
        _remove_stale()
        self.work = Path(tempfile.mkdtemp(prefix="mountlab-newcomer-"))
        self.target = self.work / "debian"
        self._thread = threading.Thread(target=self._main, name="newcomer", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float = 3600) -> None:
        assert self._thread is not None, "not started"
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"still running after {timeout} s:\n{self.text()}"

    def stop(self) -> None:
        """End it now (the session ends without its test): its processes, then its root."""
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        if self._group is not None:  # what left the session (the grader's guests) too
            self._group.kill()
        if self._thread is not None:  # it removes the root (GBs) before it ends
            self._thread.join(600)

    def text(self, last: int = 30000) -> str:
        return "\n".join(self.log)[-last:]

    # --- the scenario -----------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._scenario()
        except BaseException as exc:  # kept for the test, which raises it in its own thread
            self.error = exc
        finally:
            self._clean_up()

    def _run(self, name: str, script: str, statuses: tuple[int, ...] = (0,)) -> str:
        assert not self._stopping, "stopped"
        started = time.monotonic()
        self._group = group = CpuGroup(f"mountlab-newcomer-{os.getpid()}-{len(self.timings)}")
        self._proc = subprocess.Popen(
            group.wrap(fresh_machine.inside(self.target, script, self.env)),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, errors="replace", start_new_session=True)  # one group, for stop()
        try:
            out, _ = self._proc.communicate(timeout=3600)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            group.kill()
            out, _ = self._proc.communicate()
        seconds = time.monotonic() - started
        self.timings[name] = round(seconds, 1)
        group.kill()  # nothing of a command outlives it: the root is removed at the end
        cpu = group.seconds()
        group.close()
        if cpu is not None:
            self.cpu[name] = round(cpu, 1)
        status = self._proc.returncode
        self.log.append(f"### {name} ({seconds:.1f} s, status {status})\n{out}")
        assert status in statuses, f"{name}: status {status}\n{self.text()}"
        return out

    def _scenario(self) -> None:
        seconds, cached = fresh_machine.make_root(self.target)
        self.timings["debootstrap" + (" (from the cache)" if cached else "")] = round(seconds, 1)
        kit = self.target / KIT.lstrip("/")
        assert os.stat(self.target / "root").st_mode & 0o777 == 0o700
        fresh_machine.clone_kit(kit)
        self.env = fresh_machine.this_machines_network(self.target)
        has_sudo = (self.target / "usr" / "bin" / "sudo").exists()
        first, second = (literally(c, has_sudo) for c in quick_start())

        # 1. The first command, on the fresh machine, then again. It grades the skeleton: 0 points.
        for name in (first, f"{first} (again)"):
            out = self._run(name, f"cd {KIT} && {first}", statuses=(1,))
            assert "Traceback" not in out, out
            assert re.search(r"^Step 1 — .*: 0/20 points$", out, re.M), out
            assert "First failing check:" in out and "./workshop check 1 -v" in out, out
        # 2. A learner begins: some right, some wrong, some not even Python.
        self.learner = learner_work.write(kit)
        # 3. The second command: the kit's own tests, green whatever the learner has begun. Its
        #    second run (for the timings) with --slow or MOUNTLAB_SLOW=1: it is the suite again.
        runs = [second, f"{second} (again)"] if slow.exhaustive() else [second]
        for name in runs:
            out = self._run(name, f"cd {KIT} && {second}")
            counts = pytest_summary(out)
            assert counts.get("failed", 0) == 0 and counts.get("error", 0) == 0 \
                and counts.get("errors", 0) == 0, out[-8000:]
            assert counts.get("skipped", 0) <= MAX_SKIPPED, out[-8000:]
            assert counts.get("passed", 0) > 300, out[-8000:]
        # 4. The VM's script on the same machine: it installs the rest of the list, and a second
        #    run changes nothing; a login shell then has the venv on PATH.
        self._run("provision.sh", f"bash {KIT}/scripts/provision.sh")
        out = self._run("provision.sh (again)", f"bash {KIT}/scripts/provision.sh")
        assert "nothing to change" in out, out
        out = self._run("login shell", f"bash -lc 'cd {KIT} && pytest steps/03 "
                                       "--impl solutions -p no:cacheprovider'")
        assert full_points(out, step=3) == 1, out

    def _clean_up(self) -> None:
        self.left_behind = fresh_machine.mounts_under(self.work)
        if not self.left_behind:  # else kept: removing through a mount would lose the host's
            fresh_machine.remove(self.work)
        report = dict(self.timings, cpu_seconds=self.cpu,
                      load_average=[round(x, 2) for x in os.getloadavg()])
        try:  # for a look afterwards, as CI leaves nothing else
            TIMINGS.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
            LAST_LOG.write_text(self.text(last=2_000_000))
        except OSError:
            pass


def _remove_stale(hours: float = 6) -> None:
    """Roots a killed run left behind (about 2 GB each), once nothing is mounted there."""
    for old in Path(tempfile.gettempdir()).glob("mountlab-newcomer-*"):
        if time.time() - old.stat().st_mtime > hours * 3600 and not fresh_machine.mounts_under(old):
            fresh_machine.remove(old)


def start(item: object = None) -> Newcomer:
    """The scenario, begun in a thread when this machine can make the fresh root
    (``@pytest.mark.background(start=newcomer.start)``)."""
    run = Newcomer()
    return run if cannot_run() else run.start()
