"""Commands of a long test, each one's output streamed to a log with the second each line came,
and the parts' timings with the load average of this machine when each ended."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path


class Run:
    """One command, its output streamed to a log with the second each line arrived."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def __call__(self, argv: list[str], cwd: Path, env: dict[str, str] | None, timeout: float,
                 marks: dict[str, str] | None = None) -> tuple[int, str, dict[str, float]]:
        """Run ``argv``; returns its status, output (stdout and stderr together) and, for each
        name of ``marks``, when (seconds after the start) the first line containing its text
        came."""
        seen: dict[str, float] = {}
        lines: list[str] = []
        start = time.monotonic()
        with self.log.open("a") as log:
            log.write(f"\n$ {' '.join(argv)}   (in {cwd}; load {os.getloadavg()[0]:.1f})\n")
            # Its own session: on a timeout or an interruption of the test, the whole group
            # (vagrant and its ssh) goes, none is left running without its parent.
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace",
                                    start_new_session=True)
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    now = time.monotonic() - start
                    lines.append(line)
                    log.write(f"[{now:6.1f}] {line}")
                    log.flush()
                    for name, text in (marks or {}).items():
                        if name not in seen and text in line:
                            seen[name] = now
                    if now > timeout:
                        lines.append(f"(killed after {timeout:.0f} s)\n")
                        os.killpg(proc.pid, signal.SIGKILL)
                        break
            except BaseException:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
            status = proc.wait()
        seen["total"] = time.monotonic() - start
        return status, "".join(lines), seen


class Timings:
    """Seconds per part, each with the 1- and 5-minute load averages when it ended (other work on
    this machine slows an emulated VM down many times). Parts named with a leading "  " are
    shares of the part above them, left out of the total."""

    def __init__(self) -> None:
        self.parts: dict[str, tuple[float, float, float]] = {}

    def add(self, name: str, seconds: float) -> None:
        load1, load5, _ = os.getloadavg()
        self.parts[name] = (round(seconds, 1), round(load1, 2), round(load5, 2))

    def since(self, name: str, start: float) -> None:
        self.add(name, time.monotonic() - start)

    def total(self) -> float:
        return round(sum(p[0] for name, p in self.parts.items() if not name.startswith("  ")), 1)

    def report(self) -> str:
        lines = [f"{name:<56} {s:7.1f} s   load {l1:5.2f} {l5:5.2f}"
                 for name, (s, l1, l5) in self.parts.items()]
        load1, load5, _ = os.getloadavg()
        lines.append(f"{'total':<56} {self.total():7.1f} s   load {load1:5.2f} {load5:5.2f}")
        return "\n".join(lines)

    def json(self) -> str:
        data: dict[str, object] = {name: {"s": s, "load1": l1, "load5": l5}
                                   for name, (s, l1, l5) in self.parts.items()}
        data["total_s"] = self.total()
        data["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        return json.dumps(data, indent=1) + "\n"
