"""Which backends work on this machine, and why the others do not (with the fix).

- ``native``: root here, and a child can unshare a mount namespace and make ``/`` private;
- ``userns``: not root, and a child can unshare a user and a mount namespace (the kernel allows
  unprivileged user namespaces);
- ``uml``: ``linux.uml`` is installed, and the files the guest must read are readable by the host
  uid it runs as. ``probe_uml(boot=True)`` also boots a guest (about a second): ``doctor`` does.

Each probe forks: what it tries never touches this process.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from mountlab.backends import NAMES

INSTALL_UML = "apt-get install user-mode-linux"


@dataclass
class Probe:
    name: str
    works: bool
    reason: str = ""  # why it does not work (empty when it does)
    fix: str = ""  # the one command (or step) that makes it work

    def line(self) -> str:
        if self.works:
            return f"{self.name}: works"
        return f"{self.name}: {self.reason}" + (f" (fix: {self.fix})" if self.fix else "")


class NoBackend(Exception):
    """No backend works here (or not the one asked for): the message says which were tried,
    why each failed and the command that fixes it."""


def _in_child(func) -> str:
    """Run ``func()`` in a forked child; "" when it returned, else the error it raised."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        try:
            func()
            message = b""
        except BaseException as exc:  # noqa: B036 - anything is an answer here
            message = (str(exc) or type(exc).__name__).encode()[:2000] or b"?"
        os.write(w, message or b"\0")
        os._exit(0)
    os.close(w)
    chunks = []
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    text = b"".join(chunks).decode(errors="replace")
    return "" if text == "\0" else (text or "the probe's child died")


def _mount_namespace(user: bool) -> None:
    from mountlab import syscalls

    if user:
        uid, gid = os.geteuid(), os.getegid()
        syscalls.unshare(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNS)
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                           ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    else:
        syscalls.unshare(syscalls.CLONE_NEWNS)
    syscalls.mount("none", "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)


def _linux() -> str:
    if not sys.platform.startswith("linux"):
        return "this is not Linux"
    return ""


def probe_native() -> Probe:
    why = _linux()
    if not why and os.geteuid() != 0:
        return Probe("native", False, "not root", "run it with sudo")
    if not why:
        why = _in_child(lambda: _mount_namespace(user=False))
    if why:
        return Probe("native", False, f"root cannot create a mount namespace here ({why}): a "
                     "container without CAP_SYS_ADMIN, or a seccomp filter",
                     "use the uml backend (" + INSTALL_UML + ")")
    return Probe("native", True)


def _userns_setting() -> tuple[str, str]:
    """The kernel setting that forbids unprivileged user namespaces, and its fix."""
    for path, bad, fix in (
            ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1",
             "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"),
            ("/proc/sys/kernel/unprivileged_userns_clone", "0",
             "sudo sysctl -w kernel.unprivileged_userns_clone=1"),
            ("/proc/sys/user/max_user_namespaces", "0",
             "sudo sysctl -w user.max_user_namespaces=15000")):
        try:
            with open(path) as f:
                if f.read().strip() == bad:
                    return f"{path.removeprefix('/proc/sys/').replace('/', '.')} = {bad}", fix
        except OSError:
            continue
    return "", ""


def probe_userns() -> Probe:
    why = _linux()
    if not why and os.geteuid() == 0:
        return Probe("userns", False, "running as root: the native backend applies",
                     "run as an ordinary user")
    if not why:
        why = _in_child(lambda: _mount_namespace(user=True))
    if why:
        setting, fix = _userns_setting()
        if setting:
            return Probe("userns", False, f"unprivileged user namespaces are off ({setting})",
                         fix)
        return Probe("userns", False, f"a user namespace cannot be created here ({why}): a "
                     "container or a seccomp filter refuses it", "run with sudo, or use the "
                     "uml backend (" + INSTALL_UML + ")")
    return Probe("userns", True)


def _readable_by(uid: int, paths: list[str]) -> str:
    """The first of ``paths`` that ``uid`` cannot read (or reach), or ""."""
    if uid == os.geteuid():
        return next((p for p in paths if not os.access(p, os.R_OK | os.X_OK)), "")
    for path in paths:
        probe = path
        while True:
            try:
                st = os.stat(probe)
            except OSError:
                return path
            bits = 0o5 if probe == path else 0o1
            if not (st.st_mode & bits) == bits:
                return probe
            if probe == "/":
                break
            probe = os.path.dirname(probe)
    return ""


def probe_uml(boot: bool = False) -> Probe:
    from mountlab import registry
    from mountlab.backends import uml

    why = _linux()
    if why:
        return Probe("uml", False, why, "use the workshop's VM (docs/vm.md)")
    binary = uml.binary()
    if binary is None:
        where = os.environ.get(uml.BINARY_ENV)
        return Probe("uml", False, f"{where} is not an executable" if where else
                     "linux.uml is not installed", f"sudo {INSTALL_UML}")
    uid = uml.guest_uid()
    needed = [str(registry.KIT_ROOT), os.path.realpath(sys.executable),
              os.path.realpath(sys.prefix)]
    blocked = _readable_by(uid, needed)
    if blocked:
        return Probe("uml", False, f"the guest runs as host uid {uid}, which cannot read "
                     f"{blocked}", f"chmod o+rX on {blocked} and the folders above it, or put "
                     "the kit in a folder others can read")
    if boot:
        return _boot_probe()
    return Probe("uml", True)


def _boot_probe() -> Probe:
    import subprocess

    from mountlab.backends import uml

    try:
        result = uml.run([["true"]], cwd="/", env={}, timeout=30,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (uml.UMLError, OSError) as exc:
        return Probe("uml", False, f"linux.uml could not be started: {exc}",
                     f"sudo {INSTALL_UML}")
    if result.status != 0:
        log = [line for line in result.log.splitlines() if line.strip()]
        return Probe("uml", False, f"the guest did not boot (linux.uml exit status "
                     f"{result.uml_status}: {log[-1] if log else 'no log'})",
                     "report it, with the output of MOUNTLAB_UML_DEBUG=1 ./workshop doctor")
    return Probe("uml", True, f"booted in {result.boot_s:.2f} s")


PROBES = {"native": probe_native, "userns": probe_userns, "uml": probe_uml}


def probe_all(boot: bool = False) -> list[Probe]:
    return [probe_native(), probe_userns(), probe_uml(boot=boot)]


def choose(wanted: str = "auto") -> Probe:
    """The backend to use: ``wanted`` if it works, or with ``auto`` the first that works.
    Raises ``NoBackend`` with every reason otherwise."""
    if wanted not in ("auto", *NAMES):
        raise NoBackend(f"unknown backend {wanted!r}: give auto, {', '.join(NAMES)}")
    tried = []
    for name in (NAMES if wanted == "auto" else (wanted,)):
        probe = PROBES[name]()
        if probe.works:
            return probe
        tried.append(probe)
    raise NoBackend(no_backend_message(tried, wanted))


def no_backend_message(tried: list[Probe], wanted: str = "auto") -> str:
    head = ("no backend can run the checks on this machine" if wanted == "auto" else
            f"the {wanted} backend cannot run the checks on this machine")
    lines = [head + ":"] + [f"  - {p.name}: {p.reason}" for p in tried]
    fix = next((p.fix for p in tried if p.name == "uml" and p.fix), "") or \
        next((p.fix for p in tried if p.fix), "")
    if fix:
        lines.append(f"Fix: {fix}")
    return "\n".join(lines)
