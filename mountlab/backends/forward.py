"""Forward a run into a User-Mode Linux guest, the way ``mountlab.vmforward`` forwards into the VM.

- ``pytest_in_guest``: ``pytest ARGS`` typed here runs as the same command in a guest, from the
  same folder; its output shows here as it comes, its exit status is pytest's. Files it writes
  (``--mountlab-report``, ``--junitxml``, ``--mountlab-livelog``) are written in a folder
  handed to the guest and copied to the paths asked for once the guest is off.
- ``wrap``: a command line (the grader's jailed pytest run) made to run in a guest, with the
  folders it may write; the grader runs it as it would run the command itself.

Inside the guest the run knows it is there (``MOUNTLAB_GUEST``) and is never forwarded again.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from mountlab.backends import ENV, GUEST_ENV, uml

#: pytest options naming a file the run writes: forwarded through the exchange folder.
OUTPUT_OPTIONS = ("--mountlab-report", "--mountlab-livelog", "--junitxml", "--junit-xml")
T0_ENV = "MOUNTLAB_UML_T0"  # wall-clock time the launcher started the guest (boot time)
#: Kept by a wrapped run between the guest's own time limit and its caller's: to boot, and at the
#: end to kill what is left and copy the outputs (the live log of the points so far) to the host.
GRACE = 10.0
#: The launcher's exit status when the command reached its time limit in the guest (timeout(1)).
TIMED_OUT = 124


def guest_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the run in the guest: this one, marked as a guest's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_ADDOPTS")}
    env.update({GUEST_ENV: "uml", ENV: "native", T0_ENV: f"{time.time():.3f}"})
    if extra:
        env.update(extra)
    return env


def _rewrite(args: list[str], exchange: Path) -> tuple[list[str], list[tuple[Path, Path]]]:
    """``args`` with each output file moved into ``exchange``; (guest file, asked path) pairs."""
    out, copies = [], []
    items = iter(args)
    for arg in items:
        name, eq, value = arg.partition("=")
        if name in OUTPUT_OPTIONS:
            if not eq:
                value = next(items, "")
            asked = Path(value)
            inside = exchange / f"{len(copies)}-{asked.name or 'out'}"
            copies.append((inside, asked))
            out.append(f"{name}={inside}")
            continue
        out.append(arg)
    return out, copies


def pytest_in_guest(args: Sequence[str], cwd: str, timeout: float = 3600.0) -> int:
    """Run ``pytest args`` from ``cwd`` in a guest; its exit status."""
    args = list(args)
    exchange = Path(tempfile.mkdtemp(prefix="mountlab-exchange-"))
    try:
        guest_args, copies = _rewrite(args, exchange)
        if not any(a.startswith("--color") for a in args):
            guest_args.append("--color=" + ("yes" if sys.stdout.isatty() else "no"))
        if "no:cacheprovider" not in args:  # the host's folders are read-only in the guest
            guest_args += ["-p", "no:cacheprovider"]
        command = [sys.executable, "-m", "pytest", *guest_args]
        env = guest_env({"HOME": "/tmp"})
        sys.stdout.flush()
        result = uml.run([command], cwd=cwd, env=env, writable=[str(exchange)],
                         visible=uml.visible_paths(args, cwd), timeout=timeout)
        for inside, asked in copies:
            if inside.exists():
                target = asked if asked.is_absolute() else Path(cwd, asked)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(inside, target)
    except (uml.UMLError, ValueError, OSError) as exc:
        print(f"mountlab: the User-Mode Linux guest could not run pytest: {exc}",
              file=sys.stderr)
        return 3  # pytest's "internal error"
    finally:
        shutil.rmtree(exchange, ignore_errors=True)
    if result.timed_out:
        print(f"mountlab: the guest was stopped after {timeout:g} s", file=sys.stderr)
        return 2
    if len(result.statuses) < result.commands:
        print("mountlab: the User-Mode Linux guest stopped before pytest ended (linux.uml exit "
              f"status {result.uml_status}); its log ends with:\n{result.log[-2000:]}",
              file=sys.stderr)
        return 3
    return result.statuses[0]


def wrap(command: Sequence[str], writable: Sequence[str], timeout: float) -> list[str]:
    """``command`` run in a guest by the launcher's command line (``writable`` handed to it).

    The command's time limit in the guest is ``timeout`` less ``GRACE``: the guest stops it
    itself, and its outputs so far reach the host before the caller's own limit; the launcher
    then exits with ``TIMED_OUT``.

    pytest's ``--basetemp`` moves into a tmpfs of the guest's beside the folder asked for: in a
    host folder (hostfs) every file belongs to the guest's host uid whatever the guest says, and
    a check that runs code in a nested user namespace could not even pass through it."""
    inside = max(timeout / 2, timeout - GRACE)
    out = [sys.executable, "-m", "mountlab.backends.uml", "--timeout", f"{inside:g}"]
    for path in writable:
        out += ["--writable", str(path)]
    command = list(command)
    if "--basetemp" in command[:-1]:
        at = command.index("--basetemp") + 1
        fresh = Path(command[at]).parent / "guest-tmp"
        fresh.mkdir(exist_ok=True)
        out += ["--scratch", str(fresh)]
        command[at] = str(fresh / "tmp")
    return [*out, "--", *command]


def boot_seconds() -> float | None:
    """In a guest: how long it took from the launcher's start to now (the run's start)."""
    try:
        return time.time() - float(os.environ[T0_ENV])
    except (KeyError, ValueError):
        return None
