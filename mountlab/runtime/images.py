"""Images for ``./container``: build, import, list and remove root filesystems.

An image is a directory ``<state>/images/<name>/`` holding ``rootfs/`` (what a container sees as
``/``, never written by a run: it is the lower layer of the container's overlayfs) and
``image.json`` (Name, Source, Created, Size, Cmd). Three ways to make one:

- ``image build busybox``: offline, in well under a second, from the statically linked
  ``/bin/busybox`` of Debian/Ubuntu's ``busybox-static`` package plus its applet symlinks;
- ``image build debian|ubuntu [--suite S] [--mirror URL]``: ``debootstrap --variant=minbase``
  (minutes, needs the distribution's mirror);
- ``image import NAME FILE.tar``: the output of ``docker export``.

Every image is assembled in a hidden temporary directory next to its final place and renamed into
place at the end, so that an interrupted build or import never leaves half an image behind (the
leftovers of a killed one are removed by the next build).
"""

from __future__ import annotations

import argparse
import datetime
import errno
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mountlab.runtime import state

__all__ = [
    "ImageError", "register", "ensure_busybox", "build_busybox", "build_debootstrap",
    "import_tar", "remove_image", "list_images", "image_config", "validate_name", "find_busybox",
    "remove_tree",
]

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]*\Z")
DISTROS = {
    # name: (default suite, default mirror, debootstrap script to use for suites it does not know)
    "debian": ("bookworm", "http://deb.debian.org/debian", "sid"),
    "ubuntu": ("noble", "http://archive.ubuntu.com/ubuntu", "gutsy"),
}
UBUNTU_PORTS = "http://ports.ubuntu.com/ubuntu-ports"  # archive.ubuntu.com has x86 only
_STAGING_RE = re.compile(r"\.(?:tmp|old)-.*-(\d+)-[a-z0-9_]+\Z")

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
GROUP = "root:x:0:\nnogroup:x:65534:\n"


class ImageError(RuntimeError):
    """An image command failed; the message is one line naming the thing and what to do."""


# --------------------------------------------------------------------------------------------
# names, paths, metadata


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid image name (``[a-z0-9][a-z0-9_.-]*``), else raise."""
    if not NAME_RE.match(name or "") or len(name) > 128:
        raise ImageError(f"invalid image name {name!r}: use lowercase letters, digits and '_.-', "
                         "starting with a letter or digit")
    return name


def _image_dir(name: str) -> str:
    return os.path.dirname(state.image_rootfs(name))


def image_config(name: str) -> dict[str, Any] | None:
    """The ``image.json`` of image ``name`` (None when the image does not exist)."""
    if not os.path.isdir(state.image_rootfs(name)):
        return None
    try:
        with open(os.path.join(_image_dir(name), "image.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        config = {}  # an image made by hand: still usable
    config.setdefault("Name", name)
    config.setdefault("Rootfs", state.image_rootfs(name))
    return config


def list_images() -> list[dict[str, Any]]:
    """Every image's ``image.json``, sorted by name."""
    try:
        names = sorted(os.listdir(state.images_dir()))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if name.startswith(".") or not NAME_RE.match(name):
            continue  # staging directories and build logs
        config = image_config(name)
        if config is not None:
            found.append(config)
    return found


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _tree_size(path: str) -> int:
    """Bytes used under ``path`` (hard links counted once, symlinks not followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for top, dirs, files in os.walk(path):
        for entry in dirs + files:
            try:
                st = os.lstat(os.path.join(top, entry))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def _human(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.3g}{unit}"
        size /= 1000
    return f"{size}"


# --------------------------------------------------------------------------------------------
# staging: build aside, then rename into place


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_tree(path: str) -> None:
    """Delete ``path`` and everything under it, refusing if anything is mounted there.

    ``shutil.rmtree`` crosses mount points and would delete a bind-mounted host directory's
    files (moby #32327); symlinks, which are data inside a rootfs, are never followed.
    """
    from mountlab import fsutil

    try:
        fsutil.remove_tree(path)
    except fsutil.MountedError as exc:
        busy = exc.mounts[0]
        raise ImageError(f"{busy} is mounted under {path}: unmount it (umount -R {busy}), "
                         "then retry") from None


def _clean_stale(images: str) -> None:
    """Remove the staging directories of builds whose process is gone (killed, power cut)."""
    try:
        entries = os.listdir(images)
    except FileNotFoundError:
        return
    for entry in entries:
        match = _STAGING_RE.match(entry)
        if match and not _pid_alive(int(match.group(1))):
            try:
                remove_tree(os.path.join(images, entry))
            except (OSError, ImageError):
                pass  # still mounted or busy: the next build tries again


@contextmanager
def _staging(name: str) -> Iterator[str]:
    """A fresh hidden directory next to the image's final place; removed on any failure."""
    images = state.images_dir()
    os.makedirs(images, mode=0o755, exist_ok=True)
    _clean_stale(images)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{name}-{os.getpid()}-", dir=images)
    previous = None
    if threading.current_thread() is threading.main_thread():
        # `kill PID` (SIGTERM) cleans up like Ctrl-C instead of leaving the staging directory.
        previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield tmp
    except BaseException:
        remove_tree(tmp)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminated(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _write_config(tmp: str, config: dict[str, Any]) -> None:
    config["Size"] = _tree_size(os.path.join(tmp, "rootfs"))
    with open(os.path.join(tmp, "image.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


def _publish(tmp: str, name: str, *, force: bool) -> bool:
    """Rename the staged ``tmp`` to the image's place. False when another process published the
    same image first (and not ``force``): ``tmp`` is then discarded."""
    final = _image_dir(name)
    os.chmod(tmp, 0o755)  # mkdtemp made it 0700
    old = None
    if force and os.path.lexists(final):
        old = tempfile.mkdtemp(prefix=f".old-{name}-{os.getpid()}-", dir=state.images_dir())
        os.rename(final, os.path.join(old, "image"))
    try:
        os.rename(tmp, final)  # atomic; fails when final is a non-empty directory
    except OSError as exc:
        if old is not None:  # put the previous image back rather than lose both
            os.rename(os.path.join(old, "image"), final)
            remove_tree(old)
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        remove_tree(tmp)
        return False
    if old is not None:
        remove_tree(old)
    return True


def _refuse_existing(name: str, force: bool) -> None:
    if not force and os.path.lexists(_image_dir(name)):
        raise ImageError(f"image {name} already exists: remove it first (./container image rm "
                         f"{name}) or rebuild with --force")
    if force:
        _refuse_in_use(name, "replace")


def _refuse_in_use(name: str, verb: str) -> None:
    rootfs = state.image_rootfs(name)
    users = [c for c in state.list_containers()
             if c.get("image") in (name, rootfs)
             or c.get("rootfs_lower") in (rootfs, os.path.realpath(rootfs))]
    if users:
        who = ", ".join(f"{c.get('id', '?')[:12]} ({c.get('name', '')})" for c in users)
        raise ImageError(f"cannot {verb} image {name}: it is in use by running container {who}; "
                         "stop it first")


# --------------------------------------------------------------------------------------------
# progress (rich is imported only here, on the image-building path)


class _Reporter:
    """A progress bar on a terminal; plain lines on stderr otherwise (CI logs, pipes)."""

    def __init__(self, title: str, enabled: bool = True) -> None:
        self.title = title
        self.enabled = enabled
        self.progress: Any = None
        self.task: Any = None
        self.last = ""

    def __enter__(self) -> _Reporter:
        if self.enabled and sys.stderr.isatty():
            from rich import progress as rp
            from rich.console import Console

            self.progress = rp.Progress(rp.SpinnerColumn(), rp.TextColumn("{task.description}"),
                                        rp.BarColumn(), rp.MofNCompleteColumn(),
                                        rp.TimeElapsedColumn(), console=Console(stderr=True))
            self.progress.start()
            self.task = self.progress.add_task(self.title, total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, text: str, completed: int | None = None, total: int | None = None,
               phase: str | None = None) -> None:
        """Show ``text`` (and the bar at completed/total). Without a terminal, print one line
        per ``phase`` (default: per distinct text), not one per package."""
        if self.progress is not None:
            self.progress.update(self.task, description=f"{self.title}: {text}",
                                 completed=completed, total=total)
        elif self.enabled and (phase or text) != self.last:
            print(f"{self.title}: {text}", file=sys.stderr, flush=True)
            self.last = phase or text

    def note(self, text: str) -> None:
        if not self.enabled:
            return
        if self.progress is not None:
            self.progress.console.print(f"{self.title}: {text}")
        else:
            print(f"{self.title}: {text}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# busybox


def _is_static_elf(path: str) -> bool:
    """True for an ELF executable without a program interpreter (PT_INTERP): it runs in an
    empty rootfs, where a dynamically linked busybox would find no libc."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF":
                return False
            is64, order = head[4] == 2, "little" if head[5] == 1 else "big"
            if is64:
                phoff = int.from_bytes(head[32:40], order)
                phentsize = int.from_bytes(head[54:56], order)
                phnum = int.from_bytes(head[56:58], order)
            else:
                phoff = int.from_bytes(head[28:32], order)
                phentsize = int.from_bytes(head[42:44], order)
                phnum = int.from_bytes(head[44:46], order)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    for i in range(phnum):
        if int.from_bytes(table[i * phentsize:i * phentsize + 4], order) == 3:  # PT_INTERP
            return False
    return phnum > 0


def find_busybox() -> str:
    """The host's statically linked busybox (``$MOUNTLAB_BUSYBOX``, else busybox-static's)."""
    wanted = os.environ.get("MOUNTLAB_BUSYBOX")
    candidates = [wanted] if wanted else ["/bin/busybox", "/usr/bin/busybox"]
    for path in candidates:
        if os.path.isfile(path) and _is_static_elf(path):
            return path
    where = f"MOUNTLAB_BUSYBOX={wanted} is" if wanted else "/bin/busybox is missing or"
    raise ImageError(f"{where} not a statically linked busybox: install it with "
                     "`sudo apt-get install busybox-static`")


def _busybox_applets(busybox: str) -> tuple[str, list[str]]:
    """(version line, applet paths relative to / such as ``bin/sh``) of ``busybox``."""
    try:
        banner = subprocess.run([busybox], capture_output=True, text=True, timeout=10)
        version = (banner.stdout or banner.stderr).splitlines()[0].strip()
        version = version.replace(" multi-call binary.", "")
        listing = subprocess.run([busybox, "--list-full"], capture_output=True, text=True,
                                 timeout=10)
        if listing.returncode == 0 and listing.stdout.strip():
            applets = listing.stdout.split()
        else:  # a busybox built without --list-full: put every applet in /bin
            short = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                                   timeout=10, check=True)
            applets = [f"bin/{a}" for a in short.stdout.split()]
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        raise ImageError(f"cannot run {busybox} to list its applets: {exc}") from exc
    safe = []
    for applet in applets:
        parts = applet.strip("/").split("/")
        if applet and ".." not in parts and "" not in parts and applet != "bin/busybox":
            safe.append("/".join(parts))
    return version, safe


def _mkdir(path: str, mode: int = 0o755) -> None:
    """mkdir with exactly ``mode``, whatever the umask."""
    os.mkdir(path)
    os.chmod(path, mode)


def _makedirs(path: str, mode: int = 0o755) -> None:
    parent = os.path.dirname(path)
    if parent and not os.path.isdir(parent):
        _makedirs(parent, mode)
    if not os.path.isdir(path):
        _mkdir(path, mode)


def _populate_busybox(rootfs: str, busybox: str, applets: list[str]) -> None:
    _mkdir(rootfs)
    dirs = {"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
            "etc": 0o755, "home": 0o755, "var": 0o755, "root": 0o700, "tmp": 0o1777,
            "proc": 0o555, "sys": 0o555, "dev": 0o755}
    for rel, mode in dirs.items():
        _mkdir(os.path.join(rootfs, rel), mode)
    shutil.copyfile(busybox, os.path.join(rootfs, "bin/busybox"))
    os.chmod(os.path.join(rootfs, "bin/busybox"), 0o755)
    for applet in applets:
        path = os.path.join(rootfs, applet)
        _makedirs(os.path.dirname(path))
        if os.path.lexists(path):
            continue
        # Relative links work both inside the container and when the host inspects the rootfs.
        os.symlink(os.path.relpath("bin/busybox", os.path.dirname(applet) or "."), path)
    for rel, text in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
        with open(os.path.join(rootfs, rel), "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(os.path.join(rootfs, rel), 0o644)


def build_busybox(name: str = "busybox", *, force: bool = False, quiet: bool = False) -> str:
    """Build the busybox image (offline, well under a second); return its rootfs."""
    validate_name(name)
    rootfs = state.image_rootfs(name)
    if not force and os.path.isfile(os.path.join(rootfs, "bin/busybox")):
        return rootfs
    _refuse_existing(name, force)
    busybox = find_busybox()
    version, applets = _busybox_applets(busybox)
    started = time.monotonic()
    with _staging(name) as tmp:
        _populate_busybox(os.path.join(tmp, "rootfs"), busybox, applets)
        _write_config(tmp, {"Name": name, "Source": f"{busybox} ({version})",
                            "Created": _now(), "Cmd": ["/bin/sh"]})
        published = _publish(tmp, name, force=force)
    if not quiet:
        how = "built" if published else "already built by another process"
        print(f"image {name} {how} from {busybox} ({version}), {len(applets)} applets, in "
              f"{time.monotonic() - started:.2f}s: {rootfs}")
    return rootfs


def ensure_busybox() -> str:
    """The rootfs of the ``busybox`` image, built first if missing (for tests and benchmarks)."""
    return build_busybox("busybox", quiet=True)


# --------------------------------------------------------------------------------------------
# debootstrap


def _debootstrap_messages(stream: Any) -> Iterator[tuple[str, str, list[str]]]:
    """Parse debootstrap's ``--debian-installer`` protocol on fd 3: groups of lines such as
    ``P: 3 10 DOWNDEBS`` / ``PA: arg`` / ``PF: Downloading packages``. Yields (kind, text, head)
    where kind is P, I, W or E and head the words after ``P:``."""
    head: list[str] = []
    args: list[str] = []
    for raw in stream:
        line = raw.decode(errors="replace").rstrip("\n")
        key, _, value = line.partition(": ")
        if key in ("P", "I", "W", "E"):
            head, args = value.split(), []
        elif key in ("PA", "IA", "WA", "EA"):
            args.append(value)
        elif key in ("PF", "IF", "WF", "EF"):
            try:
                text = value % tuple(args) if args else value
            except (TypeError, ValueError):
                text = " ".join([value, *args])
            yield key[0], text, head


def _enter_private_mount_ns() -> None:
    # debootstrap mounts /proc and /sys inside the target; in a mount namespace of its own those
    # mounts die with it, even if it is killed, instead of leaking into the host's mount table.
    from mountlab import syscalls

    syscalls.unshare(syscalls.CLONE_NEWNS)
    syscalls.mount("none", "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)


def build_debootstrap(distro: str, *, suite: str | None = None, mirror: str | None = None,
                      name: str | None = None, force: bool = False, quiet: bool = False) -> str:
    """Build a Debian or Ubuntu image with ``debootstrap --variant=minbase``; return its rootfs."""
    if distro not in DISTROS:
        raise ImageError(f"unknown distribution {distro!r}: use one of {', '.join(DISTROS)}")
    default_suite, default_mirror, fallback_script = DISTROS[distro]
    suite = suite or default_suite
    if not re.match(r"[a-z0-9][a-z0-9.-]*\Z", suite):
        raise ImageError(f"invalid suite {suite!r}: a codename such as {default_suite}")
    if mirror is None:
        ports = distro == "ubuntu" and os.uname().machine not in ("x86_64", "i686", "i386")
        mirror = UBUNTU_PORTS if ports else default_mirror
    name = validate_name(name or distro)
    _refuse_existing(name, force)
    if os.geteuid() != 0:
        raise ImageError(f"image build {distro} needs root (debootstrap chroots and creates "
                         "device nodes): run it with sudo")
    debootstrap = shutil.which("debootstrap") or shutil.which("debootstrap",
                                                             path="/usr/sbin:/sbin")
    if not debootstrap:
        raise ImageError("debootstrap is not installed: `sudo apt-get install debootstrap`")
    scripts = os.path.join(os.environ.get("DEBOOTSTRAP_DIR", "/usr/share/debootstrap"), "scripts")
    cmd = [debootstrap, "--debian-installer", "--variant=minbase", suite, "ROOTFS", mirror]
    if not os.path.exists(os.path.join(scripts, suite)):
        # An older debootstrap that does not know a newer suite: its family's script works.
        cmd.append(os.path.join(scripts, fallback_script))
    logs = os.path.join(state.images_dir(), ".logs")
    started = time.monotonic()
    with _staging(name) as tmp:
        rootfs = os.path.join(tmp, "rootfs")
        cmd[4] = rootfs
        os.makedirs(logs, exist_ok=True)
        log_path = os.path.join(logs, f"{name}.log")
        title = f"{distro} {suite}" if name == distro else f"{name} ({distro} {suite})"
        errors = _run_debootstrap(cmd, log_path, title, quiet)
        if errors is not None:
            raise ImageError(f"debootstrap {suite} from {mirror} failed: {errors}; full log: "
                             f"{log_path} (a different mirror: --mirror URL)")
        _write_config(tmp, {"Name": name, "Source": f"debootstrap {suite} {mirror}",
                            "Created": _now(), "Cmd": ["/bin/bash"]})
        _publish(tmp, name, force=force)
    if not quiet:
        print(f"image {name} built from {distro} {suite} in {time.monotonic() - started:.0f}s: "
              f"{state.image_rootfs(name)}")
    return state.image_rootfs(name)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 30)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # Its children may outlive the leader for a moment: give the group time to go.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def _run_debootstrap(cmd: list[str], log_path: str, title: str, quiet: bool) -> str | None:
    """Run debootstrap showing its progress; None on success, else its last error."""
    read_end, write_end = os.pipe()
    if write_end == 3:  # dup2(3, 3) would keep close-on-exec: move it first
        write_end, old = os.dup(write_end), write_end
        os.close(old)

    def child() -> None:
        import ctypes

        # If we are killed -9, debootstrap dies too rather than fill a directory nobody owns.
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        _enter_private_mount_ns()
        os.dup2(write_end, 3)  # inheritable; every other descriptor of ours is close-on-exec

    with open(log_path, "wb") as log:
        # Started before any progress thread exists: preexec_fn and threads do not mix.
        # A session of its own: a Ctrl-C reaches us only, and we stop the whole group (dpkg,
        # wget...) before deleting the staging directory under it.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                close_fds=False, preexec_fn=child, start_new_session=True)
    os.close(write_end)
    last_error = None
    try:
        with os.fdopen(read_end, "rb") as stream, _Reporter(title, not quiet) as report:
            for kind, text, head in _debootstrap_messages(stream):
                if kind == "P" and len(head) >= 3 and head[0].isdigit() and head[1].isdigit():
                    phase = head[2]
                    report.update(text, int(head[0]), int(head[1]), phase=phase)
                elif kind == "I" and report.progress is not None:
                    report.update(text)  # "Retrieving bash": on the bar only, not in logs
                elif kind == "W":
                    report.note(f"warning: {text}")
                elif kind == "E":
                    last_error = text
        code = proc.wait()
    except BaseException:
        _stop_group(proc)
        raise
    if code == 0:
        return None
    return last_error or f"exit status {code}"


# --------------------------------------------------------------------------------------------
# import of a `docker export` tar


def _normalize(member: str, what: str) -> str:
    """``a/./b/../c`` -> ``a/c``; refuse absolute paths and ``..`` that climbs out of the root."""
    if member.startswith("/"):
        raise ImageError(f"{what} {member!r} has an absolute path; refused (not a docker "
                         "export?)")
    parts: list[str] = []
    for part in member.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise ImageError(f"{what} {member!r} climbs out of the image with '..'; refused")
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def _check_members(members: list[tarfile.TarInfo]) -> list[tuple[str, tarfile.TarInfo]]:
    """Validate every member before anything is written; return (normalized path, member)."""
    checked = []
    symlinks = set()
    for m in members:
        rel = _normalize(m.name, "member")
        if m.islnk():
            _normalize(m.linkname, f"hard link {m.name!r} ->")
        if m.issym():
            symlinks.add(rel)
        checked.append((rel, m))
    for rel, m in checked:
        # A member written through a symlink of the archive (`etc -> /etc`, then `etc/passwd`)
        # would land outside the rootfs: the classic tar-slip through a link.
        paths = [rel] + ([_normalize(m.linkname, "")] if m.islnk() else [])
        for path in paths:
            parts = path.split("/")
            for i in range(1, len(parts)):
                if "/".join(parts[:i]) in symlinks:
                    raise ImageError(f"member {m.name!r} goes through the symlink "
                                     f"{'/'.join(parts[:i])!r} of the archive; refused")
    return checked


class _Extractor:
    """Writes members with directory file descriptors and O_NOFOLLOW, so that no path ever
    resolves through a symlink, whatever the archive holds (defence in depth after
    ``_check_members``). Symlinks themselves are created as they are: they are data."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.is_root = os.geteuid() == 0
        self.dirs: list[tuple[str, tarfile.TarInfo]] = []
        self.skipped: list[str] = []

    def close(self) -> None:
        os.close(self.root_fd)

    def _open_dir(self, rel: str, create: bool = True) -> int:
        fd = os.dup(self.root_fd)
        for part in rel.split("/") if rel else []:
            try:
                try:
                    new = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW |
                                  os.O_CLOEXEC, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(part, 0o755, dir_fd=fd)  # a parent the archive does not list
                    new = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW |
                                  os.O_CLOEXEC, dir_fd=fd)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise ImageError(f"{rel!r} is not a directory inside the image (a symlink "
                                     "or a file); refused") from exc
                raise
            os.close(fd)
            fd = new
        return fd

    def _clear(self, base: str, pfd: int, keep_dir: bool = False) -> None:
        """A later member replaces an earlier one of the same path, as tar does."""
        try:
            st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            if not keep_dir:
                os.rmdir(base, dir_fd=pfd)
        else:
            os.unlink(base, dir_fd=pfd)

    def _owner(self, base: str, pfd: int, m: tarfile.TarInfo) -> None:
        if self.is_root:  # numeric ids: the names mean the image's /etc/passwd, not the host's
            os.chown(base, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)

    def extract(self, tar: tarfile.TarFile, rel: str, m: tarfile.TarInfo) -> None:
        if not rel:
            return  # the root itself ("./")
        parent, base = os.path.split(rel)
        pfd = self._open_dir(parent)
        try:
            mode = m.mode & (0o7777 if self.is_root else 0o777)
            if m.isdir():
                self._clear(base, pfd, keep_dir=True)  # anything but a directory goes
                try:
                    os.mkdir(base, 0o700, dir_fd=pfd)
                except FileExistsError:
                    pass  # listed twice, or created earlier as a parent
                self.dirs.append((rel, m))  # mode and times at the end: 0555 dirs stay writable
            elif m.isreg():
                self._clear(base, pfd)
                fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                             os.O_CLOEXEC, 0o600, dir_fd=pfd)
                with os.fdopen(fd, "wb") as out:
                    source = tar.extractfile(m)
                    if source is not None:
                        shutil.copyfileobj(source, out, 1 << 20)
                    out.flush()  # before utime: a later write would set mtime again
                    if self.is_root:
                        os.fchown(out.fileno(), m.uid, m.gid)
                    os.fchmod(out.fileno(), mode)  # after chown, which clears set-id bits
                    os.utime(out.fileno(), (m.mtime, m.mtime))
            elif m.issym():
                self._clear(base, pfd)
                os.symlink(m.linkname, base, dir_fd=pfd)
                self._owner(base, pfd, m)
                os.utime(base, (m.mtime, m.mtime), dir_fd=pfd, follow_symlinks=False)
            elif m.islnk():
                target = _normalize(m.linkname, "hard link")
                tparent, tbase = os.path.split(target)
                tfd = self._open_dir(tparent, create=False)
                try:
                    self._clear(base, pfd)
                    os.link(tbase, base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
                finally:
                    os.close(tfd)
            elif m.isfifo():
                self._clear(base, pfd)
                os.mkfifo(base, mode, dir_fd=pfd)
                self._owner(base, pfd, m)
            elif (m.ischr() or m.isblk()) and self.is_root:
                self._clear(base, pfd)
                kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
                os.mknod(base, kind | mode, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
                self._owner(base, pfd, m)
            else:
                self.skipped.append(m.name)  # devices as non-root, sparse oddities
        finally:
            os.close(pfd)

    def finish(self) -> None:
        for rel, m in reversed(self.dirs):  # deepest first
            fd = self._open_dir(rel, create=False)
            try:
                if self.is_root:
                    os.fchown(fd, m.uid, m.gid)
                os.fchmod(fd, m.mode & (0o7777 if self.is_root else 0o777))
                os.utime(fd, (m.mtime, m.mtime))
            finally:
                os.close(fd)


def import_tar(name: str, tar_path: str, *, force: bool = False, quiet: bool = False) -> str:
    """Import ``tar_path`` (``docker export`` output, optionally compressed) as image ``name``."""
    validate_name(name)
    _refuse_existing(name, force)
    try:
        tar = tarfile.open(tar_path, "r:*")
    except FileNotFoundError as exc:
        raise ImageError(f"{tar_path}: no such file (make one with `docker export CONTAINER "
                         f"> {tar_path}`)") from exc
    except (tarfile.TarError, OSError) as exc:
        raise ImageError(f"{tar_path} is not a readable tar archive ({exc}); expected the "
                         "output of `docker export`") from exc
    started = time.monotonic()
    with tar:
        try:
            checked = _check_members(tar.getmembers())
        except tarfile.TarError as exc:
            raise ImageError(f"{tar_path}: damaged tar archive ({exc})") from exc
        with _staging(name) as tmp:
            rootfs = os.path.join(tmp, "rootfs")
            _mkdir(rootfs)
            extractor = _Extractor(rootfs)
            try:
                with _Reporter(f"import {name}", not quiet) as report:
                    for i, (rel, m) in enumerate(checked):
                        extractor.extract(tar, rel, m)
                        if i % 200 == 0:
                            report.update("extracting", i, len(checked))
                    report.update("extracting", len(checked), len(checked))
                extractor.finish()
            except tarfile.TarError as exc:
                raise ImageError(f"{tar_path}: damaged tar archive ({exc})") from exc
            finally:
                extractor.close()
            shell = "/bin/bash" if os.path.lexists(os.path.join(rootfs, "bin/bash")) else "/bin/sh"
            _write_config(tmp, {"Name": name, "Source": f"import {os.path.abspath(tar_path)}",
                                "Created": _now(), "Cmd": [shell]})
            _publish(tmp, name, force=force)
    if not quiet:
        if extractor.skipped:
            print(f"skipped {len(extractor.skipped)} device or special members (not root?): "
                  f"{', '.join(extractor.skipped[:5])}", file=sys.stderr)
        print(f"image {name} imported from {tar_path} ({len(checked)} members) in "
              f"{time.monotonic() - started:.1f}s: {state.image_rootfs(name)}")
    return state.image_rootfs(name)


# --------------------------------------------------------------------------------------------
# rm


def remove_image(name: str) -> None:
    """Remove image ``name``; refuse while a running container uses it."""
    validate_name(name)
    final = _image_dir(name)
    if not os.path.isdir(final) or os.path.islink(final):
        raise ImageError(f"no such image: {name} (see ./container image ls)")
    _refuse_in_use(name, "remove")
    # Rename first: the image disappears at once; a failed delete leaves only a hidden leftover
    # that the next build cleans up.
    os.makedirs(state.images_dir(), exist_ok=True)
    trash = tempfile.mkdtemp(prefix=f".old-{name}-{os.getpid()}-", dir=state.images_dir())
    os.rename(final, os.path.join(trash, "image"))
    remove_tree(trash)


# --------------------------------------------------------------------------------------------
# command line


def _handler(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except ImageError as exc:
            print(f"container: error: {exc}", file=sys.stderr)
            return 125
        except KeyboardInterrupt:
            print("container: error: interrupted; nothing was kept", file=sys.stderr)
            return 130
        except OSError as exc:
            print(f"container: error: {exc}", file=sys.stderr)
            return 125
    return run


@_handler
def _cmd_build(args: argparse.Namespace) -> int:
    if args.kind == "busybox":
        if args.suite or args.mirror:
            raise ImageError("--suite and --mirror apply to debian and ubuntu only")
        rootfs = state.image_rootfs(args.name or "busybox")
        if not args.force and os.path.isfile(os.path.join(rootfs, "bin/busybox")):
            print(f"image {args.name or 'busybox'} is already built: {rootfs} (--force rebuilds)")
            return 0
        build_busybox(args.name or "busybox", force=args.force)
    else:
        build_debootstrap(args.kind, suite=args.suite, mirror=args.mirror, name=args.name,
                          force=args.force)
    return 0


@_handler
def _cmd_import(args: argparse.Namespace) -> int:
    import_tar(args.name, args.file, force=args.force)
    return 0


@_handler
def _cmd_ls(args: argparse.Namespace) -> int:
    images = list_images()
    if args.quiet:
        for config in images:
            print(config["Name"])
        return 0
    rows = [("NAME", "CREATED", "SIZE", "SOURCE")]
    for config in images:
        size = config.get("Size")
        rows.append((config["Name"], str(config.get("Created", "?")),
                     _human(size) if isinstance(size, int) else "?",
                     str(config.get("Source", "?"))))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(3)]
        print("   ".join([*cells, row[3]]))
    return 0


@_handler
def _cmd_rm(args: argparse.Namespace) -> int:
    status = 0
    for name in args.names:
        try:
            remove_image(name)
            print(name)
        except ImageError as exc:
            print(f"container: error: {exc}", file=sys.stderr)
            status = 125
    return status


def register(subparsers: Any) -> None:
    """Add ``image build|import|ls|rm`` to ``./container``'s argparse subparsers."""
    image = subparsers.add_parser("image", help="build, import, list and remove images",
                                  description="Manage the root filesystems containers start from.")
    sub = image.add_subparsers(dest="image_command", metavar="COMMAND", required=True)

    build = sub.add_parser("build", help="build busybox (offline), debian or ubuntu (debootstrap)",
                           description="busybox: from the host's busybox-static, in a second. "
                                       "debian/ubuntu: debootstrap --variant=minbase, minutes, "
                                       "needs the distribution's mirror and root.")
    build.add_argument("kind", choices=["busybox", *DISTROS])
    build.add_argument("--suite", help="debian/ubuntu codename (default: bookworm / noble)")
    build.add_argument("--mirror", help="debian/ubuntu mirror URL (default: deb.debian.org, "
                                        "archive.ubuntu.com)")
    build.add_argument("--name", help="image name (default: the kind)")
    build.add_argument("--force", action="store_true", help="rebuild an existing image")
    build.set_defaults(func=_cmd_build)

    imp = sub.add_parser("import", help="import the output of `docker export` as an image")
    imp.add_argument("name")
    imp.add_argument("file", metavar="FILE.tar")
    imp.add_argument("--force", action="store_true", help="replace an existing image")
    imp.set_defaults(func=_cmd_import)

    ls = sub.add_parser("ls", help="list images")
    ls.add_argument("-q", "--quiet", action="store_true", help="only the names")
    ls.set_defaults(func=_cmd_ls)

    rm = sub.add_parser("rm", help="remove images (refused while a container uses one)")
    rm.add_argument("names", nargs="+", metavar="NAME")
    rm.set_defaults(func=_cmd_rm)
