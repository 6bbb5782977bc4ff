"""``./workshop doctor``: can this machine run the kit? One line per need, and for each problem
the command that fixes it. Exit status 0 only when nothing is wrong (warnings allowed).

Namespaces and overlayfs are tried for real, in throwaway children (``mountlab.sandbox``): the
kernel's answer is the only one that counts (a sysctl, an LSM or a container runtime's seccomp
profile can each refuse).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mountlab import registry
from mountlab.workshop import ui
from mountlab.workshop.ui import tr

OK, WARN, FAIL = "ok", "warn", "fail"
MIN_KERNEL = (5, 15)
MIN_FREE, LOW_FREE = 500 << 20, 2 << 30  # bytes: below MIN_FREE fails, below LOW_FREE warns
APPARMOR_SYSCTL = "kernel.apparmor_restrict_unprivileged_userns"


@dataclass
class Finding:
    status: str
    what: str
    detail: str
    fix: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    ui.add_lang(parser)


def _sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", *name.split(".")).read_text().strip()
    except OSError:
        return None


def check_kernel(lang: str) -> Finding:
    if not sys.platform.startswith("linux"):
        return Finding(FAIL, "Linux", platform.system(), tr(
            lang, "the kit needs Linux mount namespaces: use the VM (vagrant up, see docs/vm.md)",
            "le kit a besoin des espaces de noms de montage de Linux : utilisez la VM "
            "(vagrant up, voir docs/vm.md)"))
    release = os.uname().release
    match = re.match(r"(\d+)\.(\d+)", release)
    version = (int(match[1]), int(match[2])) if match else (0, 0)
    if version < MIN_KERNEL:
        return Finding(FAIL, "Linux", release, tr(
            lang, "Linux 5.15 or newer is needed (Ubuntu 22.04+, Debian 12): upgrade, or use "
                  "the VM (vagrant up)",
            "il faut Linux 5.15 ou plus récent (Ubuntu 22.04+, Debian 12) : mettez à jour, ou "
            "utilisez la VM (vagrant up)"))
    return Finding(OK, "Linux", f"{release} (>= 5.15)")


def check_python(lang: str) -> Finding:
    v = sys.version_info
    text = f"{v.major}.{v.minor}.{v.micro} ({sys.executable})"
    if v < (3, 10):
        return Finding(FAIL, "Python", text, tr(
            lang, "Python 3.10 or newer is needed: sudo apt-get install python3, then delete "
                  ".venv and run ./workshop again",
            "il faut Python 3.10 ou plus récent : sudo apt-get install python3, puis supprimez "
            ".venv et relancez ./workshop"))
    if v >= (3, 14):
        return Finding(WARN, "Python", text, tr(lang, "the kit is tested with Python 3.10 to "
                                                      "3.13", "le kit est testé avec Python 3.10 "
                                                              "à 3.13"))
    return Finding(OK, "Python", text)


def check_root(lang: str) -> Finding:
    if os.geteuid() == 0:
        return Finding(OK, tr(lang, "privileges", "privilèges"),
                       tr(lang, "root: the checks unshare a mount namespace directly",
                          "root : les tests créent directement un espace de noms de montage"))
    return Finding(OK, tr(lang, "privileges", "privilèges"),
                   tr(lang, "not root: the checks use a user namespace; ./container needs sudo",
                      "pas root : les tests passent par un espace de noms utilisateur ; "
                      "./container demande sudo"))


def _userns_fix(lang: str) -> str:
    """How to let a normal user create user namespaces, for what this kernel restricts."""
    if _sysctl(APPARMOR_SYSCTL) == "1":
        return tr(
            lang, f"Ubuntu 24.04 restricts user namespaces ({APPARMOR_SYSCTL}=1). Either use "
                  "sudo (sudo ./workshop ..., sudo .venv/bin/pytest steps/01), or allow them: "
                  f"sudo sysctl -w {APPARMOR_SYSCTL}=0 (until reboot; to keep it: echo "
                  f"'{APPARMOR_SYSCTL}=0' | sudo tee /etc/sysctl.d/60-mountlab.conf)",
            f"Ubuntu 24.04 restreint les espaces de noms utilisateur ({APPARMOR_SYSCTL}=1). "
            "Utilisez sudo (sudo ./workshop ..., sudo .venv/bin/pytest steps/01), ou autorisez-"
            f"les : sudo sysctl -w {APPARMOR_SYSCTL}=0 (jusqu'au redémarrage ; pour le garder : "
            f"echo '{APPARMOR_SYSCTL}=0' | sudo tee /etc/sysctl.d/60-mountlab.conf)")
    if _sysctl("kernel.unprivileged_userns_clone") == "0":
        return tr(lang, "user namespaces are off for normal users: use sudo, or "
                        "sudo sysctl -w kernel.unprivileged_userns_clone=1",
                  "les espaces de noms utilisateur sont interdits aux utilisateurs normaux : "
                  "utilisez sudo, ou sudo sysctl -w kernel.unprivileged_userns_clone=1")
    if _sysctl("user.max_user_namespaces") == "0":
        return tr(lang, "user namespaces are off: use sudo, or "
                        "sudo sysctl -w user.max_user_namespaces=15000",
                  "les espaces de noms utilisateur sont désactivés : utilisez sudo, ou "
                  "sudo sysctl -w user.max_user_namespaces=15000")
    return tr(lang, "run the kit with sudo (sudo ./workshop ...), or in the VM (vagrant up)",
              "lancez le kit avec sudo (sudo ./workshop ...), ou dans la VM (vagrant up)")


def _in_sandbox(func: object) -> str:
    """Run ``func`` in a child with its own mount namespace; "" on success, else why not."""
    from mountlab import sandbox

    try:
        sandbox.run(func, timeout=10.0)  # type: ignore[arg-type]
    except sandbox.SandboxError as exc:
        lines = [line for line in exc.text.splitlines() if line.strip()]
        return lines[-1] if lines else type(exc).__name__
    return ""


def _in_child(func: object, timeout: float = 10.0) -> str:
    """Run ``func`` in a plain forked child (it may change namespaces: the sandbox would object);
    "" on success, else the error it raised."""
    import select
    import signal

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            func()  # type: ignore[operator]
            message = ""
        except BaseException as exc:  # noqa: B036 - everything is an answer here
            message = f"{type(exc).__name__}: {exc}" or type(exc).__name__
        os.write(w, message.encode()[:4000] or b"\0")
        os._exit(0)
    os.close(w)
    try:
        ready = select.select([r], [], [], timeout)[0]
        data = os.read(r, 4096) if ready else b"timeout"
    finally:
        os.close(r)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    return "" if data == b"\0" else data.decode(errors="replace") or "no answer"


def _noop() -> None:
    pass


def check_mount_namespace(lang: str) -> Finding:
    what = tr(lang, "mount namespace", "espace de noms de montage")
    problem = _in_sandbox(_noop)
    if not problem:
        how = "unshare(CLONE_NEWNS)" if os.geteuid() == 0 else \
            "unshare(CLONE_NEWUSER | CLONE_NEWNS)"
        return Finding(OK, what, tr(lang, f"{how} works, / made private",
                                    f"{how} fonctionne, / rendu privé"))
    if os.geteuid() == 0:
        fix = tr(lang, "even root may not unshare here (a container without CAP_SYS_ADMIN, or a "
                       "seccomp profile?): run the kit in the VM (vagrant up) or on a Linux "
                       "machine of your own",
                 "même root ne peut pas créer d'espace de noms ici (un conteneur sans "
                 "CAP_SYS_ADMIN, ou un profil seccomp ?) : utilisez la VM (vagrant up) ou une "
                 "machine Linux à vous")
    else:
        fix = _userns_fix(lang)
    return Finding(FAIL, what, problem, fix)


def _unprivileged_userns() -> None:
    """In a child of root: become nobody, then try what a learner without sudo does."""
    from mountlab import syscalls

    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    syscalls.unshare(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNS)


def check_user_namespaces(lang: str) -> Finding:
    what = tr(lang, "user namespaces", "espaces de noms utilisateur")
    restricted = _sysctl(APPARMOR_SYSCTL)
    note = f"{APPARMOR_SYSCTL}={restricted}" if restricted is not None else ""
    if os.geteuid() != 0:
        # The mount namespace check above already tried one for real.
        problem = _in_sandbox(_noop)
        if problem:
            return Finding(FAIL, what, problem + (f" ({note})" if note else ""),
                           _userns_fix(lang))
        return Finding(OK, what, tr(lang, "a normal user can create them",
                                    "un utilisateur normal peut en créer") +
                       (f" ({note})" if note else ""))
    problem = _in_child(_unprivileged_userns)
    if problem:
        # As root nothing needs them: only a learner working without sudo would.
        return Finding(WARN, what, tr(lang, "refused to normal users", "refusés aux "
                                      "utilisateurs normaux") + (f" ({note})" if note else ""),
                       tr(lang, "not needed as root; without sudo: ", "inutiles en root ; "
                          "sans sudo : ") + _userns_fix(lang))
    return Finding(OK, what, tr(lang, "normal users can create them too",
                                "les utilisateurs normaux peuvent aussi en créer") +
                   (f" ({note})" if note else ""))


def _overlay_in(tmp: str) -> None:
    from mountlab import syscalls

    layers = {name: os.path.join(tmp, name) for name in ("lower", "upper", "work", "merged")}
    for path in layers.values():
        os.mkdir(path)
    with open(os.path.join(layers["lower"], "image.txt"), "w") as f:
        f.write("from the image")
    options = f"lowerdir={layers['lower']},upperdir={layers['upper']},workdir={layers['work']}"
    syscalls.mount("overlay", layers["merged"], "overlay", 0, options)
    with open(os.path.join(layers["merged"], "image.txt")) as f:
        assert f.read() == "from the image"
    with open(os.path.join(layers["merged"], "new.txt"), "w") as f:
        f.write("written in the container")
    syscalls.umount2(layers["merged"])


def _remove_unmounted(tmp: str) -> None:
    """Remove a scratch folder, only once nothing is mounted below it (never delete through a
    mount: the sandbox's namespace is gone, so the host's table is the one to ask)."""
    from mountlab import fsutil

    with contextlib.suppress(fsutil.MountedError):
        fsutil.remove_tree(tmp, ignore_errors=True)  # opens overlayfs's 000 work/work first


def check_overlayfs(lang: str) -> Finding:
    known = False
    try:
        known = "overlay" in Path("/proc/filesystems").read_text().split()
    except OSError:
        pass
    tmp = tempfile.mkdtemp(prefix="mountlab-doctor-")
    try:
        problem = _in_sandbox(lambda: _overlay_in(tmp))
    finally:
        _remove_unmounted(tmp)
    if not problem:
        return Finding(OK, "overlayfs", tr(lang, "an overlay mounts and takes writes",
                                           "un overlay se monte et accepte les écritures"))
    fix = tr(lang, "load it: sudo modprobe overlay" if not known else
             "overlayfs is there but refused: run with sudo, or use the VM (vagrant up)",
             "chargez-le : sudo modprobe overlay" if not known else
             "overlayfs est là mais refusé : lancez avec sudo, ou utilisez la VM (vagrant up)")
    return Finding(FAIL, "overlayfs", problem, fix)


def check_busybox_image(lang: str) -> Finding:
    what = tr(lang, "busybox image", "image busybox")
    build = tr(lang, "build it (offline, seconds): ./container image build busybox, as root "
                     "(its first run installs busybox-static)",
               "construisez-la (hors ligne, quelques secondes) : ./container image build "
               "busybox, en root (son premier lancement installe busybox-static)")
    try:
        from mountlab.runtime import images
    except ImportError:
        return Finding(FAIL, what, tr(lang, "the runtime (mountlab/runtime/) is missing from this "
                                            "copy", "le runtime (mountlab/runtime/) manque dans "
                                                    "cette copie"),
                       tr(lang, "clone the kit again", "clonez le kit à nouveau"))
    config = images.image_config("busybox")
    if config is not None:
        return Finding(OK, what, str(config.get("Rootfs", "")))
    root_image = "/var/lib/mountlab/images/busybox/rootfs"
    if os.geteuid() != 0 and os.path.isdir(root_image):
        return Finding(OK, what, tr(lang, f"{root_image} (for sudo ./container)",
                                    f"{root_image} (pour sudo ./container)"))
    # Not a fault of the machine: one command makes it, and ./container run says so too.
    return Finding(WARN, what, tr(lang, "not built yet", "pas encore construite"), build)


def check_tool(name: str, package: str, use: str, lang: str) -> Finding:
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/sbin/{name}")
                                       if os.access(p, os.X_OK)), None)
    if path:
        return Finding(OK, name, path)
    from mountlab.workshop import packages

    listed = [p for p in packages.load() if p.name == package]
    return Finding(FAIL, name, tr(lang, f"not found ({use})", f"introuvable ({use})"),
                   packages.install_command(listed) if listed else f"apt-get install {package}")


def check_disk(lang: str) -> Finding:
    from mountlab.volume import state_dir

    what = tr(lang, "free disk", "disque libre")
    places = {str(registry.KIT_ROOT), tempfile.gettempdir(), state_dir()}
    worst: tuple[int, str] | None = None
    for place in places:
        path = Path(place)
        while not path.exists() and path != path.parent:
            path = path.parent
        try:
            free = shutil.disk_usage(path).free
        except OSError:
            continue
        if worst is None or free < worst[0]:
            worst = (free, str(path))
    if worst is None:
        return Finding(WARN, what, tr(lang, "could not be measured", "non mesurable"))
    free, where = worst
    text = f"{free / (1 << 30):.1f} GiB ({where})"
    if free < MIN_FREE:
        return Finding(FAIL, what, text, tr(lang, "free at least 500 MiB there (images, "
                                                  "containers' writes, the virtualenv)",
                                            "libérez au moins 500 Mio à cet endroit (images, "
                                            "écritures des conteneurs, virtualenv)"))
    if free < LOW_FREE:
        return Finding(WARN, what, text, tr(lang, "enough for busybox; an ubuntu or debian "
                                                  "image needs about 300 MiB more",
                                            "assez pour busybox ; une image ubuntu ou debian "
                                            "demande environ 300 Mio de plus"))
    return Finding(OK, what, text)


def check_git(lang: str) -> Finding:
    if shutil.which("git"):
        return Finding(OK, "git", shutil.which("git") or "")
    return Finding(WARN, "git", tr(lang, "not found (./workshop reset takes the skeletons from "
                                         "git)", "introuvable (./workshop reset prend les "
                                                 "squelettes dans git)"),
                   "sudo apt-get install git")


def check_kit(lang: str) -> Finding:
    what = tr(lang, "the kit's steps", "les étapes du kit")
    missing = [f"steps/{s.folder}/{s.filename}" for s in registry.steps()
               if not (registry.KIT_ROOT / "steps" / s.folder / s.filename).is_file()]
    if not missing:
        return Finding(OK, what, f"steps/01..{registry.steps()[-1].folder}")
    return Finding(FAIL, what, tr(lang, f"missing: {', '.join(missing)}",
                                  f"absent(s) : {', '.join(missing)}"),
                   tr(lang, "./workshop reset N restores a step's file; a missing steps/ folder: "
                            "git checkout -- steps",
                      "./workshop reset N restaure le fichier d'une étape ; un dossier steps/ "
                      "absent : git checkout -- steps"))


def check_backends(lang: str) -> list[Finding]:
    """One line per backend (mountlab.backends): works, or why not and the fix. A User-Mode
    Linux guest is booted for real (about a second)."""
    from mountlab.backends import detect

    probes = detect.probe_all(boot=True)
    chosen = next((p.name for p in probes if p.works), None)
    out = []
    for p in probes:
        what = tr(lang, f"backend {p.name}", f"backend {p.name}")
        if p.works:
            note = tr(lang, "works", "fonctionne") + (f" ({p.why(lang)})" if p.reason else "")
            if p.name == chosen:
                note += tr(lang, "; auto chooses it", " ; auto le choisit")
            out.append(Finding(OK, what, note))
        else:
            # One backend that works is enough: the others are only notes (the User-Mode Linux
            # one keeps its fix: it is the one that works where the kernel gives nothing).
            fix = p.how(lang) if not chosen or p.name == "uml" else ""
            out.append(Finding(WARN if chosen else FAIL, what, p.why(lang), fix))
    return out


def findings(lang: str) -> list[Finding]:
    found = [check_kernel(lang), check_python(lang)]
    if found[0].status == FAIL and not sys.platform.startswith("linux"):
        return found  # nothing else can be tried off Linux
    found += [
        check_root(lang),
        check_mount_namespace(lang),
        check_user_namespaces(lang),
        *check_backends(lang),
        check_overlayfs(lang),
        check_busybox_image(lang),
        check_tool("findmnt", "util-linux", tr(lang, "to look at mounts", "pour voir les "
                                                "montages"), lang),
        check_tool("fuser", "psmisc", tr(lang, "to find who keeps a mount busy",
                                         "pour trouver qui occupe un montage"), lang),
        check_disk(lang),
        check_git(lang),
        check_kit(lang),
    ]
    if any(f.what.endswith("uml") and f.status == OK for f in found):
        # The checks run in a User-Mode Linux guest: this kernel's namespaces are not needed.
        for f in found[2:4]:
            if f.status == FAIL:
                f.status = WARN
                f.fix = tr(lang, "not needed: the checks run in a User-Mode Linux guest "
                                 "(backend uml)", "inutile : les tests tournent dans un invité "
                           "User-Mode Linux (backend uml)")
    return found


@ui.command(add_arguments)
def run(args: argparse.Namespace) -> int:
    lang = ui.lang_of(args)
    out = ui.Out()
    out.line(tr(lang, "mountlab doctor — can this machine run the kit?",
                "mountlab doctor — cette machine peut-elle faire tourner le kit ?"), "bold")
    out.line()
    results = findings(lang)
    marks = {OK: ("✓", "green"), WARN: ("!", "yellow"), FAIL: ("✗", "red")}
    rows = [[marks[f.status][0], f.what, f.detail] for f in results]
    out.table(["", tr(lang, "what", "quoi"), tr(lang, "found", "constat")], rows,
              [marks[f.status][1] for f in results])
    problems = [f for f in results if f.status != OK and f.fix]
    if problems:
        out.line()
        out.line(tr(lang, "To fix:", "À corriger :"), "bold")
        for f in problems:
            mark, style = marks[f.status]
            out.parts((f"  {mark} {f.what}{tr(lang, ':', ' :')} ", style), (f.fix, None))
    out.line()
    failed = [f for f in results if f.status == FAIL]
    if failed:
        out.line(tr(lang, f"{len(failed)} problem(s): fix them, then run ./workshop doctor again.",
                    f"{len(failed)} problème(s) : corrigez-les, puis relancez ./workshop "
                    "doctor."), "bold red")
        return 1
    out.line(tr(lang, "All is well: start with ./workshop", "Tout va bien : commencez par "
                "./workshop"), "bold green")
    return 0
