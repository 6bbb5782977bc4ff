"""scripts/provision.sh: the one set-up script of the VM, CI and a plain Debian/Ubuntu machine.

The slow test plays a learner's fresh machine end to end: a minimal Debian 12 made with
debootstrap, the kit copied in, the README's set-up run inside it as root (chroot through
pivot_root, in a private mount namespace so that nothing stays mounted), then step 3 graded with
the reference solutions must give full points, after the README's quick start and again in a
fresh login shell after scripts/provision.sh. Run it with MOUNTLAB_SLOW=1 (root, network to the
Debian mirror and PyPI; about 5 minutes).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import reachable

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "provision.sh"
KIT_IN_CHROOT = "/srv/mountlab"


def test_bash_syntax():
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_strict_mode_and_shebang():
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"),
                    reason="needs root to switch to an unprivileged user")
def test_refuses_to_run_without_root():
    # reachable: a clone in root's home (mode 0700) is out of nobody's reach otherwise
    result = subprocess.run(reachable.command(["runuser", "-u", "nobody", "--", "bash",
                                               str(SCRIPT)]), capture_output=True, text=True,
                            cwd="/")
    assert result.returncode == 1
    assert "run me as root" in result.stderr


# --- the fresh machine ----------------------------------------------------------------------------

def kit_files() -> list[str]:
    """The kit as a learner's clone holds it: tracked files and new ones not ignored."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, check=True).stdout
    return [f for f in out.decode().split("\0") if f and (ROOT / f).is_file()]


def copy_kit(dest: Path) -> None:
    for name in kit_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)


def host_network_settings(target: Path) -> dict[str, str]:
    """What this machine needs to reach the registries (DNS, proxies, pip's CA bundle), carried
    into the chroot; a learner's machine has its own."""
    resolv = Path("/etc/resolv.conf").resolve()
    if resolv.is_file():
        (target / "etc" / "resolv.conf").unlink(missing_ok=True)
        shutil.copy(resolv, target / "etc" / "resolv.conf")
    env = {k: v for k, v in os.environ.items()
           if k.lower() in ("http_proxy", "https_proxy", "no_proxy")
           or k in ("PIP_INDEX_URL", "PIP_DEFAULT_TIMEOUT", "PIP_DISABLE_PIP_VERSION_CHECK")}
    cert = os.environ.get("PIP_CERT")
    if cert and Path(cert).is_file():
        shutil.copy(cert, target / "etc" / "host-ca-bundle.crt")
        env["PIP_CERT"] = "/etc/host-ca-bundle.crt"
    for conf in Path("/etc/apt/apt.conf.d").glob("*"):
        if conf.is_file() and "proxy" in conf.read_text(errors="replace").lower():
            shutil.copy(conf, target / "etc" / "apt" / "apt.conf.d" / conf.name)
    return env


def mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def fresh_machine(workdir: Path, step: int) -> tuple[str, dict[str, float]]:
    """debootstrap, copy, set up, grade ``step`` with the solutions; returns (output, timings)."""
    target = workdir / "debian"
    target.mkdir()
    timings: dict[str, float] = {}
    log: list[str] = []

    def run(name: str, args: list[str]) -> None:
        start = time.monotonic()
        result = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", timeout=1800)
        timings[name] = round(time.monotonic() - start, 1)
        log.append(f"### {name} ({timings[name]} s, status {result.returncode})\n{result.stdout}")
        assert result.returncode == 0, "\n".join(log)[-20000:]

    # debootstrap mounts /proc and /sys in the target while it works: keep them in a namespace.
    mirror = os.environ.get("MOUNTLAB_DEBIAN_MIRROR")
    run("debootstrap", ["unshare", "-m", "--propagation", "private", "debootstrap",
                        "--variant=minbase", "--include=python3", "bookworm", str(target),
                        *([mirror] if mirror else [])])
    start = time.monotonic()
    copy_kit(target / KIT_IN_CHROOT.lstrip("/"))
    timings["copy"] = round(time.monotonic() - start, 1)
    env = host_network_settings(target)

    # 1. The README's plain-Linux quick start, as root (the wrapper sets itself up: python3-venv,
    #    the venv), grading the solutions. 2. The provisioning script, then the same grading in
    #    a new login shell (the venv on PATH through /etc/profile.d).
    grade = f"pytest steps/{step:02d} --impl solutions -p no:cacheprovider"
    inner = (f"set -e; cd {KIT_IN_CHROOT}; "
             f"echo '### ./workshop check {step}'; ./workshop check {step} --impl solutions; "
             "echo '### provision'; bash scripts/provision.sh; "
             f"echo '### login shell'; bash -lc 'cd {KIT_IN_CHROOT} && {grade}'")
    chroot_env = ["env", "-i", "HOME=/root", "TERM=dumb", "LANG=C.UTF-8",
                  "PATH=/usr/sbin:/usr/bin:/sbin:/bin", *(f"{k}={v}" for k, v in env.items())]
    # In a private mount namespace (all of it goes when the namespace ends): the target bound
    # onto itself, proc, dev and sys for the tools, then pivot_root into it and drop the host's
    # tree. A plain chroot would do for the set-up, but a chrooted process may not create user
    # namespaces, and some checks do (the kernel allows it again once / is the namespace's root).
    outer = ('mount --bind "$0" "$0" && mount -t proc proc "$0/proc" && '
             'mount --rbind /dev "$0/dev" && mount -t sysfs sysfs "$0/sys" && '
             'cd "$0" && mkdir -p .host && pivot_root . .host && '
             'exec chroot . /bin/sh -c \'umount -l /.host && rmdir /.host && exec "$@"\' sh "$@"')
    run("set-up and grading", ["unshare", "-m", "--propagation", "private", "sh", "-c", outer,
                               str(target), *chroot_env, "bash", "-c", inner])
    return "\n".join(log), timings


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("MOUNTLAB_SLOW") != "1",
                    reason="slow (about 5 minutes, network): set MOUNTLAB_SLOW=1")
@pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap and chroot need root")
@pytest.mark.skipif(not (shutil.which("debootstrap") and shutil.which("unshare")),
                    reason="needs debootstrap and unshare (apt-get install debootstrap)")
def test_fresh_debian_machine_gets_full_points_on_step_3(tmp_path):
    workdir = tmp_path / "fresh"
    workdir.mkdir()
    try:
        output, timings = fresh_machine(workdir, step=3)
    finally:
        assert not mounts_under(workdir), "mounts left behind"
        shutil.rmtree(workdir / "debian", ignore_errors=True)  # ~1 GB; no mounts (checked)
    print(f"fresh machine timings (s): {timings}", file=sys.stderr)
    assert full_points(output, step=3) == 2, output  # after the quick start, after provisioning


def full_points(output: str, step: int) -> int:
    """How many gradings of ``step`` in ``output`` gave full points; fails on any that did not."""
    scores = re.findall(rf"Step {step}\b[^\n]*?(\d+)/(\d+) points", output)
    assert scores, f"no 'Step {step} ...: N/M points' line:\n{output}"
    for got, total in scores:
        assert int(got) == int(total) > 0, output
    return len(scores)
