"""Run pytest inside the learners' VM when this machine cannot run the checks.

The graded checks need Linux mount namespaces. On macOS or Windows, ``pytest steps/03`` typed in
the kit's folder runs ``cd /vagrant/<same folder> && pytest steps/03`` inside the VM through
``vagrant ssh``, shows its output as it comes and exits with its status: the learner keeps the
editor and the terminal of the host. The grading plugin calls this from ``pytest_cmdline_main``.

Standard library only: this module is imported on hosts where the rest of the kit cannot run.

Environment:
    MOUNTLAB_FORCE_VM=1   forward even on Linux (tests); ``0`` never forward.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

#: The kit's folder on the host: it holds the Vagrantfile.
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Where the Vagrantfile syncs the kit inside the VM.
GUEST_ROOT = PurePosixPath("/vagrant")

#: Exit status when pytest could not be run in the VM (pytest's own "usage error").
EXIT_NO_VM = 4

FORCE_ENV = "MOUNTLAB_FORCE_VM"
#: MOUNTLAB_* variables that describe the host or the VM itself, never passed into the VM.
_HOST_ONLY = {FORCE_ENV, "MOUNTLAB_VENV"}


def needs_vm() -> bool:
    """True where this machine has no Linux mount namespaces (not Linux, or too old/locked)."""
    forced = os.environ.get(FORCE_ENV, "").strip()
    if forced in ("1", "0"):
        return forced == "1"
    return not sys.platform.startswith("linux") or not os.path.exists("/proc/self/ns/mnt")


def _say(message: str) -> None:
    print(f"mountlab: {message}", file=sys.stderr, flush=True)


def _guest_path(host_path: Path) -> PurePosixPath | None:
    """``host_path`` as seen in the VM, or None when it is outside the kit."""
    try:
        relative = host_path.resolve().relative_to(REPO_ROOT)
    except ValueError:
        return None
    return GUEST_ROOT.joinpath(*relative.parts)


def _translate(arg: str, cwd: Path, keep_relative: bool) -> str:
    """A path argument of pytest (``steps\\03``, ``C:\\...\\steps\\03::test_x``) in the
    VM's terms. Only arguments naming an existing file or folder on the host change: options,
    ``-k`` expressions and the like go through as they are."""
    if not arg or arg.startswith("-"):
        return arg
    head, sep, tail = arg.partition("::")
    host = Path(head) if os.path.isabs(head) else cwd / head
    if not head or not host.exists():
        return arg
    if keep_relative and not os.path.isabs(head):
        return f"{PurePosixPath(*Path(head).parts)}{sep}{tail}"
    guest = _guest_path(host)
    return arg if guest is None else f"{guest}{sep}{tail}"


def command(argv: list[str], cwd: str | os.PathLike[str]) -> str:
    """The shell command that runs ``pytest argv`` in the VM, from the folder matching ``cwd``
    (the kit's root when ``cwd`` is outside the kit; path arguments are then made absolute)."""
    cwd = Path(cwd)
    guest_cwd = _guest_path(cwd)
    inside = guest_cwd is not None
    args = [_translate(a, cwd, keep_relative=inside) for a in argv]
    env = [f"{k}={shlex.quote(v)}" for k, v in sorted(os.environ.items())
           if k.startswith("MOUNTLAB_") and k not in _HOST_ONLY and not k.startswith("MOUNTLAB_VM")]
    words = [*env, "pytest", *(shlex.quote(a) for a in args)]
    return f"cd {shlex.quote(str(guest_cwd if inside else GUEST_ROOT))} && {' '.join(words)}"


def vm_state(vagrant: str) -> str | None:
    """The machine's state from ``vagrant status --machine-readable`` (``running``,
    ``poweroff``, ``not_created``...), or None when vagrant could not tell."""
    result = subprocess.run([vagrant, "status", "--machine-readable"], cwd=REPO_ROOT,
                            capture_output=True, text=True, errors="replace")
    for line in result.stdout.splitlines():
        fields = line.split(",")
        if len(fields) >= 4 and fields[2] == "state":
            return fields[3].strip()
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        _say(_text("vm.status_failed", detail=f": {detail[-1]}" if detail else ""))
    return None


def _text(key: str, **fields: object) -> str:
    from mountlab.messages import say  # standard library only, like this module

    return say(key, **fields)


def forward(argv: list[str], cwd: str | os.PathLike[str]) -> int:
    """Run ``pytest argv`` in the VM from the folder matching ``cwd``; return its exit status."""
    from mountlab import lang

    # pytest has not read its options yet: its --lang, else MOUNTLAB_LANG, else the locale.
    given = [a.partition("=")[2] for a in argv if a.startswith("--lang=")] + [
        argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--lang"]
    lang.use(given[-1] if given else None)
    vagrant = shutil.which("vagrant")
    if vagrant is None:
        _say(_text("vm.no_vagrant"))
        return EXIT_NO_VM
    state = vm_state(vagrant)
    if state != "running":
        why = _text("vm.not_created") if state == "not_created" else \
            _text("vm.not_running", state=state or _text("vm.unknown"))
        _say(_text("vm.vm_down", why=why, root=REPO_ROOT))
        return EXIT_NO_VM
    remote = command(argv, cwd)
    tty = "--tty" if sys.stdout.isatty() and sys.stdin.isatty() else "--no-tty"
    _say(_text("vm.running_in_vm", command=remote))
    try:
        return subprocess.call([vagrant, "ssh", tty, "-c", remote], cwd=REPO_ROOT)
    except KeyboardInterrupt:
        return 2  # pytest's "interrupted"
