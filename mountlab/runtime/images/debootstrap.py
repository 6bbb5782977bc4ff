"""``image build debian|ubuntu [--suite S] [--mirror URL]``: ``debootstrap --variant=minbase``
(minutes, needs root and the distribution's mirror), its progress read from the
``--debian-installer`` protocol on fd 3, in a mount namespace of its own."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

from mountlab.runtime import state
from mountlab.runtime.images.progress import Reporter
from mountlab.runtime.images.store import (
    ImageError,
    publish,
    refuse_existing,
    staging,
    timestamp,
    validate_name,
    write_config,
)

__all__ = ["DISTROS", "UBUNTU_PORTS", "build_debootstrap", "read_messages"]

DISTROS = {
    # name: (default suite, default mirror, debootstrap script to use for suites it does not know)
    "debian": ("bookworm", "http://deb.debian.org/debian", "sid"),
    "ubuntu": ("noble", "http://archive.ubuntu.com/ubuntu", "gutsy"),
}
UBUNTU_PORTS = "http://ports.ubuntu.com/ubuntu-ports"  # archive.ubuntu.com has x86 only


def read_messages(stream: Any) -> Iterator[tuple[str, str, list[str]]]:
    """Parse debootstrap's ``--debian-installer`` protocol on fd 3: groups of lines such as
    ``P: 3 10 DOWNDEBS`` / ``PA: arg`` / ``PF: Downloading packages``. Yields (kind, text, head)
    where kind is P, I, W or E and head the words after ``P:``."""
    head: list[str] = []
    args: list[str] = []
    for raw in stream:
        line = raw.decode(errors="replace").rstrip("\n")
        key, _, value = line.partition(": ")
        if key in ("P", "I", "W", "E"):
            head, args = value.split(), []
        elif key in ("PA", "IA", "WA", "EA"):
            args.append(value)
        elif key in ("PF", "IF", "WF", "EF"):
            try:
                text = value % tuple(args) if args else value
            except (TypeError, ValueError):
                text = " ".join([value, *args])
            yield key[0], text, head


def _enter_private_mount_ns() -> None:
    # debootstrap mounts /proc and /sys inside the target; in a mount namespace of its own those
    # mounts die with it, even if it is killed, instead of leaking into the host's mount table.
    from mountlab import syscalls

    syscalls.unshare(syscalls.CLONE_NEWNS)
    syscalls.mount("none", "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)


def build_debootstrap(distro: str, *, suite: str | None = None, mirror: str | None = None,
                      name: str | None = None, force: bool = False, quiet: bool = False) -> str:
    """Build a Debian or Ubuntu image with ``debootstrap --variant=minbase``; return its rootfs."""
    if distro not in DISTROS:
        raise ImageError(f"unknown distribution {distro!r}: use one of {', '.join(DISTROS)}")
    default_suite, default_mirror, fallback_script = DISTROS[distro]
    suite = suite or default_suite
    if not re.match(r"[a-z0-9][a-z0-9.-]*\Z", suite):
        raise ImageError(f"invalid suite {suite!r}: a codename such as {default_suite}")
    if mirror is None:
        ports = distro == "ubuntu" and os.uname().machine not in ("x86_64", "i686", "i386")
        mirror = UBUNTU_PORTS if ports else default_mirror
    name = validate_name(name or distro)
    refuse_existing(name, force)
    if os.geteuid() != 0:
        raise ImageError(f"image build {distro} needs root (debootstrap chroots and creates "
                         "device nodes): run it with sudo")
    from mountlab.workshop import packages  # debootstrap installed at its first use

    packages.first_use("debootstrap", f"./container image build {distro}")
    debootstrap = shutil.which("debootstrap") or shutil.which("debootstrap",
                                                             path="/usr/sbin:/sbin")
    if not debootstrap:
        raise ImageError("debootstrap is not installed: `sudo apt-get install debootstrap`")
    scripts = os.path.join(os.environ.get("DEBOOTSTRAP_DIR", "/usr/share/debootstrap"), "scripts")
    cmd = [debootstrap, "--debian-installer", "--variant=minbase", suite, "ROOTFS", mirror]
    if not os.path.exists(os.path.join(scripts, suite)):
        # An older debootstrap that does not know a newer suite: its family's script works.
        cmd.append(os.path.join(scripts, fallback_script))
    logs = os.path.join(state.images_dir(), ".logs")
    started = time.monotonic()
    with staging(name) as tmp:
        rootfs = os.path.join(tmp, "rootfs")
        cmd[4] = rootfs
        os.makedirs(logs, exist_ok=True)
        log_path = os.path.join(logs, f"{name}.log")
        title = f"{distro} {suite}" if name == distro else f"{name} ({distro} {suite})"
        errors = _run_debootstrap(cmd, log_path, title, quiet)
        if errors is not None:
            raise ImageError(f"debootstrap {suite} from {mirror} failed: {errors}; full log: "
                             f"{log_path} (a different mirror: --mirror URL)")
        write_config(tmp, {"Name": name, "Source": f"debootstrap {suite} {mirror}",
                            "Created": timestamp(), "Cmd": ["/bin/bash"]})
        publish(tmp, name, force=force)
    if not quiet:
        print(f"image {name} built from {distro} {suite} in {time.monotonic() - started:.0f}s: "
              f"{state.image_rootfs(name)}")
    return state.image_rootfs(name)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 30)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # Its children may outlive the leader for a moment: give the group time to go.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def _run_debootstrap(cmd: list[str], log_path: str, title: str, quiet: bool) -> str | None:
    """Run debootstrap showing its progress; None on success, else its last error."""
    read_end, write_end = os.pipe()
    if write_end == 3:  # dup2(3, 3) would keep close-on-exec: move it first
        write_end, old = os.dup(write_end), write_end
        os.close(old)

    def child() -> None:
        import ctypes

        # If we are killed -9, debootstrap dies too rather than fill a directory nobody owns.
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        _enter_private_mount_ns()
        os.dup2(write_end, 3)  # inheritable; every other descriptor of ours is close-on-exec

    with open(log_path, "wb") as log:
        # Started before any progress thread exists: preexec_fn and threads do not mix.
        # A session of its own: a Ctrl-C reaches us only, and we stop the whole group (dpkg,
        # wget...) before deleting the staging directory under it.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                close_fds=False, preexec_fn=child, start_new_session=True)
    os.close(write_end)
    last_error = None
    try:
        with os.fdopen(read_end, "rb") as stream, Reporter(title, not quiet) as report:
            for kind, text, head in read_messages(stream):
                if kind == "P" and len(head) >= 3 and head[0].isdigit() and head[1].isdigit():
                    phase = head[2]
                    report.update(text, int(head[0]), int(head[1]), phase=phase)
                elif kind == "I" and report.progress is not None:
                    report.update(text)  # "Retrieving bash": on the bar only, not in logs
                elif kind == "W":
                    report.note(f"warning: {text}")
                elif kind == "E":
                    last_error = text
        code = proc.wait()
    except BaseException:
        _stop_group(proc)
        raise
    if code == 0:
        return None
    return last_error or f"exit status {code}"

