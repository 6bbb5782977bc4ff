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
    reason: str = ""  # why it does not work (empty when it does), or a note when it does
    fix: str = ""  # the one command (or step) that makes it work
    reason_fr: str = ""
    fix_fr: str = ""

    def why(self, lang: str = "en") -> str:
        return self.reason_fr if lang == "fr" and self.reason_fr else self.reason

    def how(self, lang: str = "en") -> str:
        return self.fix_fr if lang == "fr" and self.fix_fr else self.fix


def _no(name: str, reason: str, reason_fr: str, fix: str = "", fix_fr: str = "") -> Probe:
    return Probe(name, False, reason, fix, reason_fr, fix_fr or fix)


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
    from mountlab.sandbox import userns

    if user:
        uid, gid = os.geteuid(), os.getegid()
        syscalls.unshare(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNS)
        userns.write_maps("self", uid, gid)
    else:
        syscalls.unshare(syscalls.CLONE_NEWNS)
    syscalls.mount("none", "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)


def _not_linux(name: str) -> Probe | None:
    if sys.platform.startswith("linux"):
        return None
    return _no(name, "this is not Linux", "ce n'est pas Linux",
               "use the workshop's VM (vagrant up, docs/vm.md)",
               "utilisez la VM de l'atelier (vagrant up, docs/vm.md)")


def probe_native() -> Probe:
    off = _not_linux("native")
    if off:
        return off
    if os.geteuid() != 0:
        return _no("native", "not root", "pas root", "run it with sudo", "lancez-le avec sudo")
    why = _in_child(lambda: _mount_namespace(user=False))
    if why:
        return _no("native", f"root cannot create a mount namespace here ({why}): a container "
                   "without CAP_SYS_ADMIN, or a seccomp filter",
                   f"root ne peut pas créer d'espace de noms de montage ici ({why}) : un "
                   "conteneur sans CAP_SYS_ADMIN, ou un filtre seccomp",
                   f"use the uml backend: {INSTALL_UML}",
                   f"utilisez le backend uml : {INSTALL_UML}")
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
    off = _not_linux("userns")
    if off:
        return off
    if os.geteuid() == 0:
        return _no("userns", "running as root: the native backend applies",
                   "lancé en root : c'est le backend native qui s'applique",
                   "run as an ordinary user", "lancez-le en utilisateur ordinaire")
    why = _in_child(lambda: _mount_namespace(user=True))
    if why:
        setting, fix = _userns_setting()
        if setting:
            return _no("userns", f"unprivileged user namespaces are off ({setting})",
                       f"les espaces de noms utilisateur non privilégiés sont désactivés "
                       f"({setting})", fix)
        return _no("userns", f"a user namespace cannot be created here ({why}): a container "
                   "or a seccomp filter refuses it",
                   f"impossible de créer un espace de noms utilisateur ici ({why}) : un "
                   "conteneur ou un filtre seccomp le refuse",
                   f"run with sudo, or use the uml backend: {INSTALL_UML}",
                   f"lancez-le avec sudo, ou utilisez le backend uml : {INSTALL_UML}")
    return Probe("userns", True)


def _readable_by(uid: int, paths: list[str]) -> str:
    """The first of ``paths`` that ``uid`` cannot read (or reach), or ""."""
    if uid == os.geteuid():
        return next((p for p in paths if not os.access(p, os.R_OK | os.X_OK)), "")
    # Started by root, the launcher hands the guest each folder it needs (uml.reach): the folders
    # above it may be closed to that uid (root's home), the folder itself may not.
    handed = os.geteuid() == 0
    for path in paths:
        probe = path
        top = path if os.path.isdir(path) else os.path.dirname(path)
        while True:
            if handed and probe != path and probe != top:
                break
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

    off = _not_linux("uml")
    if off:
        return off
    binary = uml.binary()
    if binary is None:
        where = os.environ.get(uml.BINARY_ENV)
        return _no("uml", f"{where} is not an executable" if where else
                   "linux.uml is not installed", f"{where} n'est pas un exécutable" if where
                   else "linux.uml n'est pas installé", f"sudo {INSTALL_UML}")
    try:
        uid = uml.guest_uid()
    except uml.UMLError as exc:
        return _no("uml", str(exc), str(exc), f"unset {uml.UID_ENV}")
    needed = [str(registry.KIT_ROOT), os.path.realpath(sys.executable),
              os.path.realpath(sys.prefix)]
    blocked = _readable_by(uid, needed)
    if blocked:
        return _no("uml", f"the guest runs as host uid {uid}, which cannot read {blocked}",
                   f"l'invité tourne sous l'uid {uid} de l'hôte, qui ne peut pas lire {blocked}",
                   f"chmod o+rX {blocked} (and the folders above it), or put the kit in a "
                   "folder others can read",
                   f"chmod o+rX {blocked} (et les dossiers au-dessus), ou placez le kit dans "
                   "un dossier lisible par les autres")
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
        return _no("uml", f"linux.uml could not be started: {exc}",
                   f"linux.uml n'a pas pu démarrer : {exc}", f"sudo {INSTALL_UML}")
    if result.status != 0:
        log = [line for line in result.log.splitlines() if line.strip()]
        last = log[-1] if log else "no log"
        return _no("uml", f"the guest did not boot (linux.uml exit status {result.uml_status}: "
                   f"{last})", f"l'invité n'a pas démarré (linux.uml a fini avec le statut "
                   f"{result.uml_status} : {last})",
                   f"sudo apt-get install --reinstall user-mode-linux; {last}")
    return Probe("uml", True, f"a guest boots in {result.boot_s:.2f} s",
                 reason_fr=f"un invité démarre en {result.boot_s:.2f} s")


PROBES = {"native": probe_native, "userns": probe_userns, "uml": probe_uml}


def probe_all(boot: bool = False) -> list[Probe]:
    return [probe_native(), probe_userns(), probe_uml(boot=boot)]


def _lang() -> str:
    from mountlab import lang

    return lang.current()


def choose(wanted: str = "auto", lang: str | None = None) -> Probe:
    """The backend to use: ``wanted`` if it works, or with ``auto`` the first that works.
    Raises ``NoBackend`` with every reason otherwise."""
    lang = lang or _lang()
    if wanted not in ("auto", *NAMES):
        raise NoBackend(f"unknown backend {wanted!r}: give auto, {', '.join(NAMES)}"
                        if lang == "en" else f"backend inconnu {wanted!r} : donnez auto, "
                        f"{', '.join(NAMES)}")
    tried = []
    for name in (NAMES if wanted == "auto" else (wanted,)):
        probe = PROBES[name]()
        if probe.works:
            return probe
        tried.append(probe)
    raise NoBackend(no_backend_message(tried, wanted, lang))


def no_backend_message(tried: list[Probe], wanted: str = "auto", lang: str = "en") -> str:
    """Which backends were tried, why each failed, and the one command that fixes it (the
    User-Mode Linux one first: it works wherever the others cannot)."""
    fr = lang == "fr"
    if wanted == "auto":
        head = ("aucun backend ne peut faire tourner les tests sur cette machine" if fr else
                "no backend can run the checks on this machine")
    else:
        head = (f"le backend {wanted} ne peut pas faire tourner les tests sur cette machine"
                if fr else f"the {wanted} backend cannot run the checks on this machine")
    lines = [head + (" :" if fr else ":")]
    lines += [f"  - {p.name}{' :' if fr else ':'} {p.why(lang)}" for p in tried]
    fix = next((p.how(lang) for p in tried if p.name == "uml" and p.fix), "") or \
        next((p.how(lang) for p in tried if p.fix), "")
    if fix:
        lines.append(("Pour corriger : " if fr else "Fix: ") + fix)
    return "\n".join(lines)
