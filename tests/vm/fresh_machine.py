"""A fresh Debian 12 machine inside a test: a minimal root made with debootstrap (python3 and git
only), entered as root through pivot_root in a private mount namespace, so that everything it
mounts goes with the namespace and user namespaces work in it (a plain chroot forbids them).

What this machine needs to reach the registries (its resolver, its certificate authorities,
pip's global settings, apt's settings for its mirror) is copied in: that is this machine's
set-up, not something a learner's machine or the kit has.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from mountlab import fsutil, registry

ROOT = registry.KIT_ROOT
#: The minimal root, once made, is kept here as a tar: debootstrap takes minutes and downloads.
CACHE = Path(os.environ.get("MOUNTLAB_CACHE", "/var/cache/mountlab")) / "fresh-debian"
SUITE = "bookworm"
VARIANT = "minbase"
INCLUDE = ("python3", "git")
#: A fresh machine gets the distribution as it is today: the cached root is made again after this.
REFRESH_DAYS = 14
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# $0 the root; then the command. The root bound onto itself, proc, dev and sys for the tools,
# then pivot_root into it and the host's tree dropped.
_ENTER = ('mount --bind "$0" "$0" && mount -t proc proc "$0/proc" && '
          'mount --rbind /dev "$0/dev" && mount -t sysfs sysfs "$0/sys" && '
          'cd "$0" && mkdir -p .host && pivot_root . .host && '
          'exec chroot . /bin/sh -c \'umount -l /.host && rmdir /.host && exec "$@"\' sh "$@"')


def cached_root() -> Path:
    """The cache's tar for this suite, variant, package list and mirror (each changes the key)."""
    mirror = os.environ.get("MOUNTLAB_DEBIAN_MIRROR", "")
    key = hashlib.sha256(repr((SUITE, VARIANT, INCLUDE, mirror)).encode()).hexdigest()[:12]
    return CACHE / f"{SUITE}-{VARIANT}-{'-'.join(INCLUDE)}-{key}.tar"


def _fresh_enough(tarball: Path) -> bool:
    try:
        return time.time() - tarball.stat().st_mtime < REFRESH_DAYS * 86400
    except FileNotFoundError:
        return False


def _build(tarball: Path) -> None:
    """debootstrap into a folder of this run's own (another run may build at the same time),
    then the tar, renamed into place whole."""
    CACHE.mkdir(parents=True, exist_ok=True)
    for stale in CACHE.glob("build-*"):  # an interrupted build: debootstrap left no host mount
        if time.time() - stale.stat().st_mtime > 6 * 3600:
            fsutil.remove_tree(stale)
    build = Path(tempfile.mkdtemp(prefix="build-", dir=CACHE))
    try:
        mirror = os.environ.get("MOUNTLAB_DEBIAN_MIRROR")
        # debootstrap mounts /proc and /sys in the root while it works: keep them in a namespace.
        subprocess.run(["unshare", "-m", "--propagation", "private", "debootstrap",
                        f"--variant={VARIANT}", f"--include={','.join(INCLUDE)}", SUITE,
                        str(build / "root"), *([mirror] if mirror else [])], check=True,
                       capture_output=True, timeout=1800)
        partial = build / "root.tar"
        subprocess.run(["tar", "-C", str(build / "root"), "--one-file-system", "-cf",
                        str(partial), "."], check=True)
        for old in CACHE.glob(f"{SUITE}-*.tar"):  # other keys, or this one grown old
            old.unlink(missing_ok=True)
        partial.rename(tarball)
    finally:
        fsutil.remove_tree(build)


def make_root(target: Path) -> tuple[float, bool]:
    """A minimal Debian 12 with python3 and git in ``target``; (seconds, from the cache)."""
    started = time.monotonic()
    tarball = cached_root()
    target.mkdir(parents=True)
    cached = _fresh_enough(tarball)
    if not cached:
        _build(tarball)
    subprocess.run(["tar", "-C", str(target), "-xpf", str(tarball)], check=True)
    return time.monotonic() - started, cached


def clone_kit(dest: Path) -> None:
    """``git clone`` of this kit, then this checkout's uncommitted files on top, committed: the
    clone is the kit under test, with git history to take skeletons from."""
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(dest)], check=True,
                   capture_output=True)
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, check=True).stdout.decode()
    # This checkout's own step modules may hold a learner's work: the clone keeps git's.
    learner_files = {f"steps/{s.folder}/{s.filename}" for s in registry.steps()}
    for name in filter(None, out.split("\0")):
        source = ROOT / name
        if source.is_file() and name not in learner_files:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    git = ["git", "-C", str(dest), "-c", "user.name=kit", "-c", "user.email=kit@example.org"]
    subprocess.run([*git, "add", "-A"], check=True)
    if subprocess.run([*git, "diff", "--cached", "--quiet"]).returncode:
        subprocess.run([*git, "commit", "-q", "-m", "this checkout's changes"], check=True)


def this_machines_network(target: Path) -> dict[str, str]:
    """Copy in what this machine needs to reach the registries; the environment to pass."""
    resolv = Path("/etc/resolv.conf").resolve()
    if resolv.is_file():
        (target / "etc" / "resolv.conf").unlink(missing_ok=True)
        shutil.copy(resolv, target / "etc" / "resolv.conf")
    # Its certificate authorities, as a file for pip now and as sources for update-ca-certificates
    # when the root installs ca-certificates later.
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if bundle.is_file():
        (target / "etc" / "ssl" / "certs").mkdir(parents=True, exist_ok=True)
        shutil.copy(bundle, target / "etc" / "ssl" / "certs" / bundle.name)
    local = Path("/usr/local/share/ca-certificates")
    if local.is_dir():
        shutil.copytree(local, target / local.relative_to("/"), dirs_exist_ok=True)
    if Path("/etc/pip.conf").is_file():
        shutil.copy("/etc/pip.conf", target / "etc" / "pip.conf")
    for conf in Path("/etc/apt/apt.conf.d").glob("*"):
        text = conf.read_text(errors="replace") if conf.is_file() else ""
        if "proxy" in text.lower() or "Acquire::Check-Valid-Until" in text:
            shutil.copy(conf, target / "etc" / "apt" / "apt.conf.d" / conf.name)
    env = {k: v for k, v in os.environ.items()
           if k.lower() in ("http_proxy", "https_proxy", "no_proxy")
           or k in ("PIP_INDEX_URL", "PIP_DEFAULT_TIMEOUT", "PIP_CERT")}
    cert = env.get("PIP_CERT")
    if cert and Path(cert).is_file():
        shutil.copy(cert, target / "etc" / "host-ca-bundle.crt")
        env["PIP_CERT"] = "/etc/host-ca-bundle.crt"
    return env


def inside(target: Path, script: str, env: dict[str, str]) -> list[str]:
    """The command that runs ``bash -c script`` as root in the fresh machine, with a login's
    bare environment."""
    bare = ["env", "-i", "HOME=/root", "TERM=dumb", "LANG=C.UTF-8", f"PATH={PATH}",
            *(f"{k}={v}" for k, v in env.items())]
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", _ENTER, str(target), *bare,
            "bash", "-c", script]


def run_inside(target: Path, script: str, env: dict[str, str],
               timeout: float = 3600) -> tuple[subprocess.CompletedProcess, float]:
    """``bash -c script`` in the fresh machine; (its result, output merged, and the seconds it
    took)."""
    started = time.monotonic()
    proc = subprocess.run(inside(target, script, env), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", timeout=timeout)
    return proc, time.monotonic() - started


def mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def remove(target: Path) -> None:
    """Remove the root (about 2 GB); refused, deleting nothing, while anything is mounted there."""
    fsutil.remove_tree(target)
