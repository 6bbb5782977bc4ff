"""The CPU seconds a command and everything it starts use: a cgroup of its own, below ours (so
that ours still counts them), read from cpuacct (cgroup v1) or cpu.stat (v2). On a two-core
machine shared by several runs, wall time says little; CPU time says what a part of CI costs.
Where no cgroup can be made, the command runs as it is and its CPU time is None.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

_V1 = Path("/sys/fs/cgroup/cpuacct")
_V2 = Path("/sys/fs/cgroup")


def _ours() -> tuple[Path, str] | None:
    """Our cgroup's folder and the file holding its usage."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "cpuacct" in controllers.split(",") and (_V1 / "cpuacct.usage").exists():
            return _V1 / path.lstrip("/"), "cpuacct.usage"
        if controllers == "" and (_V2 / "cgroup.controllers").exists():
            return _V2 / path.lstrip("/"), "cpu.stat"
    return None


class CpuGroup:
    """``wrap(argv)`` runs argv in the group; ``seconds()`` is what the group has used."""

    def __init__(self, name: str) -> None:
        self.dir: Path | None = None
        found = _ours()
        if found is None:
            return
        parent, self._usage = found
        try:
            (parent / name).mkdir()
            self.dir = parent / name
        except OSError:
            pass

    def wrap(self, argv: list[str]) -> list[str]:
        if self.dir is None:
            return argv
        return ["sh", "-c", '{ echo $$ > "$0/cgroup.procs"; } 2>/dev/null; exec "$@"',
                str(self.dir), *argv]

    def seconds(self) -> float | None:
        if self.dir is None:
            return None
        try:
            text = (self.dir / self._usage).read_text()
        except OSError:
            return None
        if self._usage == "cpuacct.usage":
            return int(text) / 1e9
        fields = dict(line.split() for line in text.splitlines())
        return int(fields["usage_usec"]) / 1e6

    def kill(self) -> None:
        """SIGKILL whatever still runs in the group, those that left the command's session
        included (a grader's guests start sessions of their own)."""
        if self.dir is None:
            return
        for _ in range(50):
            try:
                pids = (self.dir / "cgroup.procs").read_text().split()
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)

    def close(self) -> None:
        """Removed once its processes are gone (a process left behind keeps it)."""
        if self.dir is not None:
            try:
                os.rmdir(self.dir)
            except OSError:
                pass
