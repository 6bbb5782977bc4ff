"""Shared helpers of the ``./container run`` tests: throw-away state, a busybox image, running the
runtime as a separate process (the way a learner runs it), implementation folders to plug in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mountlab import registry

ROOT = registry.KIT_ROOT


def host_mounts() -> list[bytes]:
    """The host's mount table, minus the mount ids (they are the only thing that may differ when
    nothing changed)."""
    with open("/proc/self/mountinfo", "rb") as f:
        return sorted(line.split(b" ", 2)[2] for line in f.read().splitlines())


def build_busybox_rootfs(rootfs: Path) -> None:
    """A minimal busybox root filesystem: /bin/busybox and one symlink per applet (what
    ``./container image build busybox`` makes, without depending on it)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "proc", "dev"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, rootfs / "bin/busybox")
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        link = rootfs / applet
        if not link.exists() and not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(rootfs / "bin/busybox", link.parent))
    (rootfs / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (rootfs / "etc/group").write_text("root:x:0:\n")


def impl_folder(dest: Path, replace: dict[int, str] | None = None,
                append: dict[int, str] | None = None) -> Path:
    """An implementation folder (``dest/NN/module.py``) holding the reference solutions, with the
    file of some steps replaced by, or extended with, the given source text."""
    for s in registry.steps():
        path = dest / s.folder / s.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        text = (ROOT / "solutions" / s.folder / s.filename).read_text()
        if replace and s.number in replace:
            text = replace[s.number]
        if append and s.number in append:
            text += "\n" + append[s.number]
        path.write_text(text)
    return dest


class Runtime:
    """Runs ``python -m mountlab.runtime`` (what ``./container`` execs) with its own state."""

    def __init__(self, state: Path, run: Path, impl: str = "solutions") -> None:
        self.state, self.run_dir, self.impl = state, run, impl

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("MOUNTLAB_IMPL", "MOUNTLAB_STATE", "MOUNTLAB_RUN")}
        env.update(MOUNTLAB_STATE=str(self.state), MOUNTLAB_RUN=str(self.run_dir),
                   MOUNTLAB_IMPL=self.impl, PYTHONPATH=str(ROOT))
        if env.pop("PYTHONDONTWRITEBYTECODE", None):
            # Compiling every module again in each of the many runs costs more than the runs:
            # keep the bytecode, outside the kit's tree.
            env["PYTHONPYCACHEPREFIX"] = os.path.join(self.state, ".pycache")
        env.update(extra)
        return env

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "mountlab.runtime", *args]

    def __call__(self, *args: str, timeout: float = 60, impl: str | None = None,
                 **kwargs) -> subprocess.CompletedProcess:
        env = self.env(**({"MOUNTLAB_IMPL": impl} if impl else {}))
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(self.argv(*args), env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout, **kwargs)

    def popen(self, *args: str, impl: str | None = None, **kwargs) -> subprocess.Popen:
        env = self.env(**({"MOUNTLAB_IMPL": impl} if impl else {}))
        return subprocess.Popen(self.argv(*args), env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                **kwargs)

    def live(self) -> list[str]:
        """The ids of the live containers, read in this process (what ``ps`` reads)."""
        from mountlab.runtime import state

        saved = {k: os.environ.get(k) for k in ("MOUNTLAB_STATE", "MOUNTLAB_RUN")}
        os.environ.update(MOUNTLAB_STATE=str(self.state), MOUNTLAB_RUN=str(self.run_dir))
        try:
            return [r["id"] for r in state.list_containers(clean=False)]
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def containers(self) -> list[str]:
        """``ps -q``: the ids of the live containers (cleans stale records as a side effect)."""
        proc = self("ps", "-q")
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def wait_for(predicate, timeout: float = 20, what: str = "a condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def gone(pid: int) -> bool:
    """True when ``pid`` no longer exists, or is a zombie (dead, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def tree(path: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry below ``path``: (mode, content for files) — to prove nothing changed."""
    found: dict[str, tuple[int, bytes | None]] = {}
    for top, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(top, name)
            st = os.lstat(full)
            content = None
            if name in files and os.path.isfile(full) and not os.path.islink(full):
                content = Path(full).read_bytes()
            found[os.path.relpath(full, path)] = (st.st_mode, content)
    return found
