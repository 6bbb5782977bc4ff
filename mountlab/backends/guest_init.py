"""The init script of a User-Mode Linux guest: PID 1, as guest root, written for one boot.

It lays out the guest's filesystem (the host's ``/`` read-only through hostfs, fresh tmpfs on the
scratch folders, the folders it must still see under a tmpfs mounted again read-only, a tmpfs of
guest root's at the path of each output folder), runs the commands one after the other under a
time limit with exactly the environment given, kills every process left, and only then copies
the outputs and the exit statuses to the host folders, and powers the guest off. Its own output
goes to the guest's console 0, which the launcher keeps as a boot log; the commands' output goes
to consoles 1 and 2 (the caller's stdout and stderr).

Only ``/bin/sh`` and coreutils/util-linux (``mount``, ``stty``, ``timeout``, ``date``): a
Python init would cost a second interpreter start, slow in UML.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: Fresh, empty tmpfs in the guest (they would otherwise be the host's, read-only).
TMPFS_DIRS = ("/tmp", "/var/tmp", "/run", "/dev/shm")
#: Files the init script writes in the job folder.
STARTED, STATUS = "started", "status"
#: The guest's highest pid: one learner's grading has a few hundred processes at most (each
#: subject at most RLIMIT_NPROC), and a submission that sweeps every possible pid with kill(2)
#: makes a system call per number, 26 µs to over 100 µs each in a guest (0.7 natively).
PID_MAX = 4096
#: A character that would break a hostfs mount option (comma) or the script's words.
UNSAFE = (",", "\n", "\0")


@dataclass
class Job:
    """What one boot does."""

    folder: str  # host folder shared writable with the guest: init, statuses
    commands: list[list[str]]
    cwd: str
    env: Mapping[str, str]
    writable: Sequence[str] = ()  # host folders of the outputs, copied out at the end
    visible: Sequence[str] = ()  # host folders to see again (read-only) under a fresh tmpfs
    timeout: float = 600.0  # per command, inside the guest
    scratch: Sequence[str] = ()  # existing host folders covered by a guest tmpfs, never copied
    tmpfs: Sequence[str] = TMPFS_DIRS
    covered: Sequence[str] = ()  # host folders the guest's uid cannot pass: a tmpfs covers them
    sources: Mapping[str, str] = field(default_factory=dict)  # what hostfs mounts for a folder


def check_path(path: str) -> None:
    """Refuse a path a hostfs mount option cannot carry."""
    if not path.startswith("/") or any(c in path for c in UNSAFE):
        raise ValueError(f"{path!r}: the User-Mode Linux backend needs absolute host paths "
                         "without commas or newlines")


def _under(path: str, folders: Sequence[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def script(job: Job) -> str:
    """The text of the init script."""
    for path in (job.folder, job.cwd, *job.writable, *job.visible, *job.scratch, *job.covered,
                 *job.sources.values()):
        check_path(path)
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        "# PID 1 of a mountlab User-Mode Linux guest, written by mountlab.backends.guest_init.",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH",
        f"job={q(job.folder)}",
        "mount -t proc -o nosuid,nodev,noexec proc /proc",
        "mount -t sysfs -o nosuid,nodev,noexec sysfs /sys",
        f"echo {PID_MAX} > /proc/sys/kernel/pid_max",
        "mkdir -p /dev/shm /dev/pts",
        "mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts",
    ]
    for path in job.tmpfs:
        lines.append(f"[ -d {q(path)} ] && mount -t tmpfs -o mode=1777 tmpfs "
                     f"{q(path)}")
    # Closed folders (root's home): nothing of them but what is handed below.
    for path in job.covered:
        if not _under(path, job.tmpfs):
            lines.append(f"mount -t tmpfs -o mode=0755 tmpfs {q(path)}")
    # The host folders the run needs that a tmpfs just covered, read-only; shallow first, so
    # that a deeper one is not covered again by its parent.
    hidden = [*job.tmpfs, *job.covered]
    for path in sorted((p for p in job.visible if _under(p, hidden)
                        and not _under(p, job.writable)), key=lambda p: (p.count("/"), p)):
        source = job.sources.get(path, path)
        lines.append(f"mkdir -p {q(path)} && mount -r -t hostfs -o {q(source)} hostfs "
                     f"{q(path)}")
    # Scratch of the guest's own (pytest's --basetemp), with no nosuid or nodev: those would be
    # locked in the checks' user namespaces, and a read-only remount there would fail as it
    # does not on the host's disk.
    for path in job.scratch:
        lines.append(f"mkdir -p {q(path)} && mount -t tmpfs -o mode=0755 tmpfs {q(path)}")
    # The run's outputs: guest root's own tmpfs while it runs. No host folder is writable
    # while the commands run; they are copied out at the end, once every process is gone.
    for path in sorted(job.writable, key=lambda p: (p.count("/"), p)):
        lines.append(f"mkdir -p {q(path)} && mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "
                     f"{q(path)}")
    lines += [
        # The consoles are terminals: without this, every \n reaches the host as \r\n.
        "stty -F /dev/tty1 -opost; stty -F /dev/tty2 -opost",
        "started=$(date +%s.%N); statuses=",
    ]
    env = " ".join(q(f"{k}={v}") for k, v in sorted(job.env.items()))
    for command in job.commands:
        lines.append(
            f"(cd {q(job.cwd)} && exec timeout -k 5 {job.timeout:.0f} env -i {env} "
            f"{' '.join(q(a) for a in command)}) </dev/null >/dev/tty1 2>/dev/tty2; "
            'statuses="$statuses $?"')
    lines += [
        # Nothing of the run may still be writing when its outputs go to the host.
        "kill -KILL -1 2>/dev/null; sleep 0.2",
        "mkdir -p /run/mountlab-out && mount -t hostfs -o \"$job\" hostfs /run/mountlab-out",
    ]
    for k, path in enumerate(job.writable):
        source = job.sources.get(path, path)
        lines.append(f"mkdir -p /run/mountlab-copy{k} && mount -t hostfs -o {q(source)} hostfs "
                     f"/run/mountlab-copy{k} && cp -R --preserve=mode,timestamps {q(path)}/. "
                     f"/run/mountlab-copy{k}/")
    lines += [
        f'echo "$started" > /run/mountlab-out/{STARTED}',
        f'for s in $statuses; do echo "$s"; done > /run/mountlab-out/{STATUS}',
        "sync",
        # Power off (no poweroff binary needed); if init returned, the guest would panic.
        "echo o > /proc/sysrq-trigger",
        "sleep 60",
    ]
    return "\n".join(lines) + "\n"
