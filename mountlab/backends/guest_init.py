"""The init script of a User-Mode Linux guest: PID 1, as guest root, written for one boot.

It lays out the guest's filesystem (the host's ``/`` read-only through hostfs, fresh tmpfs on the
scratch folders, the host folders the run may write mounted writable, the folders it must still
see under a tmpfs mounted again read-only), runs the commands one after the other under a time
limit with exactly the environment given, writes each exit status in the job folder, and powers
the guest off. Its output goes to the guest's console 0, which the launcher keeps as a boot log;
the commands' own output goes to consoles 1 and 2 (the caller's stdout and stderr).

Only ``/bin/sh`` and coreutils/util-linux (``mount``, ``stty``, ``timeout``, ``date``): a
Python init would cost a second interpreter start, slow in UML.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Fresh, empty tmpfs in the guest (they would otherwise be the host's, read-only).
TMPFS_DIRS = ("/tmp", "/var/tmp", "/run", "/dev/shm")
#: Files the init script writes in the job folder.
STARTED, STATUS = "started", "status"
#: A character that would break a hostfs mount option (comma) or the script's words.
UNSAFE = (",", "\n", "\0")


@dataclass
class Job:
    """What one boot does."""

    folder: str  # host folder shared writable with the guest: init, statuses
    commands: list[list[str]]
    cwd: str
    env: Mapping[str, str]
    writable: Sequence[str] = ()  # host folders mounted writable at the same path
    visible: Sequence[str] = ()  # host folders to see again (read-only) under a fresh tmpfs
    timeout: float = 600.0  # per command, inside the guest
    tmpfs: Sequence[str] = TMPFS_DIRS


def check_path(path: str) -> None:
    """Refuse a path a hostfs mount option cannot carry."""
    if not path.startswith("/") or any(c in path for c in UNSAFE):
        raise ValueError(f"{path!r}: the User-Mode Linux backend needs absolute host paths "
                         "without commas or newlines")


def _under(path: str, folders: Sequence[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def script(job: Job) -> str:
    """The text of the init script."""
    for path in (job.folder, job.cwd, *job.writable, *job.visible):
        check_path(path)
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        "# PID 1 of a mountlab User-Mode Linux guest, written by mountlab.backends.guest_init.",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH",
        f"job={q(job.folder)}",
        "mount -t proc -o nosuid,nodev,noexec proc /proc",
        "mount -t sysfs -o nosuid,nodev,noexec sysfs /sys",
        "mkdir -p /dev/shm /dev/pts",
        "mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts",
    ]
    for path in job.tmpfs:
        lines.append(f"[ -d {q(path)} ] && mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "
                     f"{q(path)}")
    covered = job.tmpfs
    # The host folders the run needs that a tmpfs just covered, read-only, then the writable
    # ones; shallow first, so that a deeper one is not covered again by its parent.
    writable = (*job.writable, job.folder)
    mounts = sorted({(p, False) for p in job.visible
                     if _under(p, covered) and not _under(p, writable)}
                    | {(p, True) for p in writable}, key=lambda m: (m[0].count("/"), m[0]))
    for path, rw in mounts:
        flag = "" if rw else "-r "
        lines.append(f"mkdir -p {q(path)} && mount {flag}-t hostfs -o {q(path)} hostfs {q(path)}")
    lines += [
        # The consoles are terminals: without this, every \n reaches the host as \r\n.
        "stty -F /dev/tty1 -opost; stty -F /dev/tty2 -opost",
        'date +%s.%N > "$job/' + STARTED + '"',
    ]
    env = " ".join(q(f"{k}={v}") for k, v in sorted(job.env.items()))
    for command in job.commands:
        lines.append(
            f"(cd {q(job.cwd)} && exec timeout -k 5 {job.timeout:.0f} env -i {env} "
            f"{' '.join(q(a) for a in command)}) </dev/null >/dev/tty1 2>/dev/tty2; "
            f'echo $? >> "$job/{STATUS}"')
    lines += [
        "sync",
        # Power off (no poweroff binary needed); if init returned, the guest would panic.
        "echo o > /proc/sysrq-trigger",
        "sleep 60",
    ]
    return "\n".join(lines) + "\n"
