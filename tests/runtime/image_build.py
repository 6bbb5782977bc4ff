"""``./container image build debian|ubuntu`` in the background (tests/background.py): minutes of
downloads from the distribution's mirror, beside the other tests. Each build has its state and
run folders to itself, and its output in a file there (a pipe nobody reads would stall it)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from mountlab import fsutil, registry

SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def cannot_build() -> str:
    """Why debootstrap cannot run here ("" when it can)."""
    if os.geteuid() != 0 or not shutil.which("debootstrap", path=SYSTEM_PATH):
        return "needs root and debootstrap"
    return ""


class Build:
    """One ``image build DISTRO``, started now."""

    def __init__(self, distro: str) -> None:
        self.distro = distro
        self.work = Path(tempfile.mkdtemp(prefix=f"mountlab-build-{distro}-"))
        variables = dict(os.environ, MOUNTLAB_STATE=str(self.work / "state"),
                         MOUNTLAB_RUN=str(self.work / "run"), PYTHONPATH=str(registry.KIT_ROOT))
        self.log = self.work / "output"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mountlab.runtime", "image", "build", distro],
                env=variables, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)  # one group, that stop() can kill

    def wait(self, timeout: float = 1800) -> tuple[int, str]:
        """Its exit status and output."""
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        return status, self.log.read_text(errors="replace")

    def stop(self) -> None:
        """Ended if still running, and its folder removed (refused while anything is mounted
        there: debootstrap mounts only in a namespace of its own)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.work.exists():
            fsutil.remove_tree(self.work)


class _NotHere:
    def stop(self) -> None:
        pass


def start(item) -> Build | _NotHere:
    """For ``@pytest.mark.background(start=image_build.start)``, with a ``distro`` parameter."""
    return _NotHere() if cannot_build() else Build(item.callspec.params["distro"])
