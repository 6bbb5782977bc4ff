"""The system packages a command needs, installed the first time it needs them.

The list is ``packages.toml`` beside this file, the same one ``scripts/provision.sh`` installs for
the VM. ``ensure("test")`` finds what ``./workshop test`` lacks, says what it installs and why, and
installs it with apt-get behind a progress display. Without root (or without apt-get) it prints
the one command that installs it and returns, so that the caller goes on with what works.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from mountlab.workshop.ui import tr

LIST = Path(__file__).with_name("packages.toml")
USES = ("kit", "container", "notebook", "test", "vm")
# Where root's tools live: a learner's PATH (or sudo's secure_path) may lack the sbin folders.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Package:
    name: str
    command: str  # a program on PATH or an absolute path; "" when dpkg alone can tell
    uses: tuple[str, ...]
    en: str
    fr: str

    def why(self, lang: str) -> str:
        return tr(lang, self.en, self.fr)

    def present(self) -> bool:
        if self.command.startswith("/"):
            return os.path.exists(self.command)
        if self.command:
            path = os.environ.get("PATH", "") + os.pathsep + SYSTEM_PATH
            return shutil.which(self.command, path=path) is not None
        return _dpkg_installed(self.name)


def _dpkg_installed(name: str) -> bool:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", name],
                             capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return out.strip() == "installed"


def load() -> list[Package]:
    """Every package of the list, in its order."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with open(LIST, "rb") as f:
        data = tomllib.load(f)
    found = []
    for entry in data["package"]:
        uses = tuple(entry["for"])
        unknown = set(uses) - set(USES)
        if unknown:
            raise ValueError(f"{LIST}: {entry['name']}: unknown use {sorted(unknown)}")
        found.append(Package(entry["name"], entry.get("command", ""), uses, entry["en"],
                             entry["fr"]))
    return found


def needed_for(use: str) -> list[Package]:
    if use not in USES:
        raise ValueError(f"unknown use {use!r}: one of {', '.join(USES)}")
    return [p for p in load() if use in p.uses]


def missing(use: str) -> list[Package]:
    return [p for p in needed_for(use) if not p.present()]


def can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get", path=SYSTEM_PATH) is not None


def install_command(packages: list[Package]) -> str:
    """The one command a learner types to install ``packages`` (with sudo when there is one)."""
    names = " ".join(p.name for p in packages)
    command = f"apt-get install -y --no-install-recommends {names}"
    if os.geteuid() == 0:
        return command
    if shutil.which("sudo", path=SYSTEM_PATH):
        return f"sudo {command}"
    return f"su -c '{command}'"


COMMANDS = {"test": "./workshop test", "notebook": "./workshop notebook",
            "container": "./container", "kit": "./workshop", "vm": "the VM"}


def ensure(use: str, lang: str = "en", out: TextIO | None = None) -> list[Package]:
    """Install what ``use`` lacks when we can; return what is still missing afterwards."""
    return install_missing(missing(use), COMMANDS[use], lang, out)


def ensure_named(names: list[str], command: str, lang: str = "en",
                 out: TextIO | None = None) -> list[Package]:
    """The same for the packages ``names`` of the list, needed by ``command``."""
    known = {p.name: p for p in load()}
    return install_missing([known[n] for n in names if not known[n].present()], command, lang,
                           out)


def install_missing(lacking: list[Package], command: str, lang: str = "en",
                    out: TextIO | None = None) -> list[Package]:
    """Say what ``command`` lacks and why, and install it (root with apt-get) or print the
    command that does; return what is still missing."""
    out = out or sys.stderr
    if not lacking:
        return []
    width = max(len(p.name) for p in lacking)
    if not can_install():
        print(tr(lang, f"mountlab: {command} would use these system packages, not installed:",
                 f"mountlab : {command} utiliserait ces paquets système, absents :"), file=out)
        for p in lacking:
            print(f"  {p.name.ljust(width)}  {p.why(lang)}", file=out)
        print(tr(lang, f"  Install them with:  {install_command(lacking)}\n"
                       "  Going on with what works without them.",
                 f"  Installez-les avec :  {install_command(lacking)}\n"
                 "  On continue avec ce qui marche sans eux."), file=out)
        out.flush()
        return lacking
    print(tr(lang, f"mountlab: first run of {command}: installing {len(lacking)} system "
                   "package(s) with apt-get:",
             f"mountlab : premier lancement de {command} : installation de {len(lacking)} "
             "paquet(s) système avec apt-get :"), file=out)
    for p in lacking:
        print(f"  {p.name.ljust(width)}  {p.why(lang)}", file=out)
    out.flush()
    ok = apt_install([p.name for p in lacking], lang, out)
    still = [p for p in lacking if not p.present()]
    if ok and not still:
        print(tr(lang, "mountlab: installed.", "mountlab : installés."), file=out)
    elif still:
        print(tr(lang, f"mountlab: still missing: {' '.join(p.name for p in still)}; try  "
                       f"{install_command(still)}  yourself. Going on with what works.",
                 f"mountlab : toujours absents : {' '.join(p.name for p in still)} ; essayez  "
                 f"{install_command(still)}  vous-même. On continue avec ce qui marche."),
              file=out)
    out.flush()
    return still


def _apt_env() -> dict[str, str]:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", PATH=SYSTEM_PATH)
    env.setdefault("LC_ALL", "C.UTF-8")
    return env


def apt_install(names: list[str], lang: str = "en", out: TextIO | None = None) -> bool:
    """``apt-get update`` then ``apt-get install names``, showing the progress apt reports on its
    status channel (downloads, then unpacking); apt's own chatter goes to a log shown only when
    it fails."""
    out = out or sys.stderr
    apt = ["apt-get", "-y", "-o", "DPkg::Lock::Timeout=600", "-o", "Dpkg::Use-Pty=0"]
    with tempfile.TemporaryFile(mode="w+", prefix="mountlab-apt-") as log:
        progress = Progress(out, lang)
        progress.phase(tr(lang, "updating the package lists", "mise à jour des listes de paquets"))
        status = _run_apt([*apt, "update"], log, progress)
        if status == 0:
            status = _run_apt([*apt, "install", "--no-install-recommends", *names], log, progress)
        progress.end()
        if status != 0:
            log.seek(0)
            tail = log.read().strip().splitlines()[-15:]
            print("\n".join(f"  | {line}" for line in tail), file=out)
            print(tr(lang, f"mountlab: apt-get failed (status {status}).",
                     f"mountlab : apt-get a échoué (code {status})."), file=out)
        return status == 0


def _run_apt(argv: list[str], log: TextIO, progress: Progress) -> int:
    read, write = os.pipe()
    try:
        proc = subprocess.Popen([*argv, "-o", f"APT::Status-Fd={write}"], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, env=_apt_env(),
                                pass_fds=(write,))
    except OSError as exc:
        os.close(read)
        os.close(write)
        log.write(f"{argv[0]}: {exc}\n")
        return 127
    os.close(write)
    with os.fdopen(read, errors="replace") as status:
        for line in status:  # e.g. dlstatus:3:42.1:Retrieving file 3 of 40
            kind, _, rest = line.partition(":")
            parts = rest.split(":", 2)
            if kind in ("dlstatus", "pmstatus") and len(parts) == 3:
                try:
                    percent = float(parts[1])
                except ValueError:
                    continue
                progress.update(kind, percent)
    return proc.wait()


class Progress:
    """One line, redrawn on a terminal (a bar and a percentage); elsewhere a line per quarter."""

    def __init__(self, out: TextIO, lang: str) -> None:
        self.out, self.lang = out, lang
        self.tty = hasattr(out, "isatty") and out.isatty()
        self.kind = ""
        self.shown = -1
        self.started = time.monotonic()

    def phase(self, text: str) -> None:
        self._write(f"  {text}...")

    def update(self, kind: str, percent: float) -> None:
        label = {"dlstatus": tr(self.lang, "downloading", "téléchargement"),
                 "pmstatus": tr(self.lang, "installing", "installation")}[kind]
        if kind != self.kind:
            self.kind, self.shown = kind, -1
        if self.tty:
            filled = int(percent / 100 * 30)
            self._write(f"  [{'#' * filled}{'-' * (30 - filled)}] {percent:5.1f}%  {label}")
        elif int(percent // 25) > self.shown:
            self.shown = int(percent // 25)
            self._write(f"  {label} {int(percent):3d}%")

    def _write(self, text: str) -> None:
        if self.tty:
            self.out.write(f"\r\x1b[K{text}")
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def end(self) -> None:
        seconds = time.monotonic() - self.started
        self._write(tr(self.lang, f"  done in {seconds:.0f} s", f"  fini en {seconds:.0f} s"))
        if self.tty:
            self.out.write("\n")
        self.out.flush()


def first_use(package: str, command: str) -> None:
    """``command`` is about to use ``package``'s program: install it now if it is missing,
    saying what and why (for the runtime, which has no language option: the locale's)."""
    from mountlab.workshop.ui import env_lang

    ensure_named([package], command, env_lang())
