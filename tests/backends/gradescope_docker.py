"""Gradescope, as far as it can be rebuilt on this machine: Debian's dockerd, an image built from
the kit's autograder zip, submissions run the way Gradescope runs them.

- ``Daemon``: a ``dockerd`` of our own (its own socket, data and exec roots; no bridge, no
  iptables), started and stopped by the test; a dockerd another tool runs is left alone.
- ``base_image``: no registry is reachable, so the base is a debootstrapped Debian 12
  (``--variant=minbase``), cached as a tar under ``/var/cache/mountlab/`` (minutes once, then
  seconds) and loaded with ``docker import``.
- ``build_autograder``: ``setup.sh`` of the zip runs once in a container of the base, committed
  as the image, as Gradescope builds it, with the network (apt, PyPI); this machine's
  certificate authorities and pip.conf are copied in first (this machine's set-up, not the
  kit's: see the notes on debootstrap in the kit's references).
- ``run_submission``: ``docker run`` with Docker's default seccomp profile, no --privileged, no
  added capability, ``--network none``, the submission at ``/autograder/submission``; returns
  ``results.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("MOUNTLAB_CACHE", "/var/cache/mountlab"))
BASE_TAR = CACHE / "gradescope-base-bookworm.tar"
SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
# What Gradescope's image has before setup.sh runs (Ubuntu with python3); ca-certificates for
# the build's downloads.
BASE_PACKAGES = "python3,ca-certificates"
STATE = Path("/var/lib/mountlab/docker-test")
RUN = Path("/run/mountlab/docker-test")


class Unavailable(Exception):
    """Docker cannot run here: the reason (a test skips with it, or fails under CI)."""


def _run(*args: str, timeout: float = 1800, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)


def base_tar() -> Path:
    """The debootstrapped base as a tar, built once and cached."""
    if BASE_TAR.exists():
        return BASE_TAR
    if shutil.which("debootstrap") is None:
        raise Unavailable("debootstrap is not installed (apt-get install debootstrap)")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mountlab-debootstrap-", dir=CACHE) as tmp:
        root = Path(tmp, "root")
        done = _run("debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", SUITE,
                    str(root), MIRROR)
        if done.returncode != 0:
            raise Unavailable(f"debootstrap failed: {done.stderr.strip()[-500:]}")
        partial = BASE_TAR.with_suffix(".tar.tmp")
        _run("tar", "-C", str(root), "-cf", str(partial), ".", check=True)
        os.replace(partial, BASE_TAR)
        _run("rm", "-rf", "--one-file-system", str(root))
    return BASE_TAR


class Daemon:
    """A dockerd of our own, for the duration of a test session."""

    def __init__(self) -> None:
        self.socket = RUN / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.proc: subprocess.Popen | None = None
        self.log = STATE / "dockerd.log"
        self.mounts_before: set[int] = set()

    def start(self) -> Daemon:
        dockerd = shutil.which("dockerd")
        if dockerd is None or shutil.which("docker") is None:
            raise Unavailable("docker.io is not installed (apt-get install docker.io)")
        STATE.mkdir(parents=True, exist_ok=True)
        RUN.mkdir(parents=True, exist_ok=True)
        from mountlab import mountinfo

        self.mounts_before = {m.mount_id for m in mountinfo.read()}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [dockerd, "--host", self.host, "--data-root", str(STATE / "data"),
                 "--exec-root", str(RUN / "exec"), "--pidfile", str(RUN / "dockerd.pid"),
                 "--bridge", "none", "--iptables=false", "--ip6tables=false",
                 "--containerd-namespace", "mountlab-test",
                 "--containerd-plugins-namespace", "mountlab-test-plugins"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable("dockerd exited: " + self.log.read_text()[-800:])
            if self.docker("info", timeout=10).returncode == 0:
                return self
            time.sleep(0.5)
        self.stop()
        raise Unavailable("dockerd did not answer within 60 s: " + self.log.read_text()[-800:])

    def docker(self, *args: str, timeout: float = 1800, **kw) -> subprocess.CompletedProcess:
        return _run("docker", "--host", self.host, *args, timeout=timeout, **kw)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._detach_leftovers()

    def _detach_leftovers(self) -> None:
        """What dockerd mounted in its roots and left there when it stopped (its default network
        namespace, bound at ``exec/netns/default``): detached, deepest first."""
        from mountlab import mountinfo, syscalls

        left = [m for m in mountinfo.read() if m.mount_id not in self.mounts_before
                and any(mountinfo.within(m.mountpoint, str(top)) for top in (RUN, STATE))]
        for m in sorted(left, key=lambda m: m.mountpoint.count("/"), reverse=True):
            try:
                syscalls.umount2(m.mountpoint, syscalls.MNT_DETACH)
            except OSError:
                pass


def base_image(daemon: Daemon, name: str = "mountlab-test/debian-base:bookworm") -> str:
    if daemon.docker("image", "inspect", name, timeout=60).returncode != 0:
        with open(base_tar(), "rb") as tar:
            done = daemon.docker("import", "-", name, stdin=tar, timeout=600)
        if done.returncode != 0:
            raise Unavailable(f"docker import failed: {done.stderr.strip()[-500:]}")
    return name


#: The image build, as a shell in a container of the base (then committed): Gradescope unzips the
#: autograder into /autograder/source and runs its setup.sh once, as root, with the network.
BUILD = """\
set -e
cp -a /context/machine/etc/. /etc/
mkdir -p /autograder/results
cp -a /context/source /autograder/source
chmod +x /autograder/source/setup.sh /autograder/source/run_autograder
bash /autograder/source/setup.sh
cp /autograder/source/run_autograder /autograder/run_autograder
"""


def build_autograder(daemon: Daemon, autograder_zip: Path, tag: str) -> str:
    """An image like the one Gradescope builds from ``autograder_zip``. Docker 20.10's
    ``COPY`` fails on this host's overlay (its chroot untar), so the build is a container of
    the base that runs setup.sh, committed."""
    base = base_image(daemon)
    with tempfile.TemporaryDirectory(prefix="mountlab-gradescope-") as tmp:
        context = Path(tmp)
        os.chmod(context, 0o755)
        with zipfile.ZipFile(autograder_zip) as zf:
            zf.extractall(context / "source")
        machine = context / "machine"
        (machine / "etc").mkdir(parents=True)
        for path in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pip.conf"):
            if os.path.exists(path):
                (machine / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, machine / path.lstrip("/"))
        name = "mountlab-test-build"
        daemon.docker("rm", "-f", name, timeout=60)
        done = daemon.docker("run", "--name", name, "--network", "host",
                             "-v", f"{context}:/context:ro", base, "sh", "-c", BUILD)
        if done.returncode != 0:
            daemon.docker("rm", "-f", name, timeout=60)
            raise AssertionError("the autograder's setup failed:\n"
                                 + (done.stdout + done.stderr)[-4000:])
        committed = daemon.docker("commit", "--change", "WORKDIR /autograder", name, tag,
                                  timeout=600)
        daemon.docker("rm", "-f", name, timeout=60)
        if committed.returncode != 0:
            raise AssertionError(f"docker commit failed: {committed.stderr[-2000:]}")
    return tag


def run_submission(daemon: Daemon, image: str, submission: Path, timeout: float = 900) -> dict:
    """Grade ``submission`` as Gradescope does; its ``results.json``."""
    with tempfile.TemporaryDirectory(prefix="mountlab-results-") as tmp:
        os.chmod(tmp, 0o777)
        done = daemon.docker(
            "run", "--rm", "--network", "none",
            "-v", f"{submission}:/autograder/submission:ro",
            "-v", f"{tmp}:/autograder/results",
            image, "/autograder/run_autograder", timeout=timeout)
        results = Path(tmp, "results.json")
        if not results.exists():
            raise AssertionError(f"no results.json (exit {done.returncode}):\n"
                                 + (done.stdout + done.stderr)[-4000:])
        data = json.loads(results.read_text())
        data["_log"] = (done.stdout + done.stderr)[-6000:]
        return data
