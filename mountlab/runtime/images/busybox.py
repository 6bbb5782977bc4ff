"""``image build busybox``: an image made offline, in well under a second, from the statically
linked ``/bin/busybox`` of Debian/Ubuntu's ``busybox-static`` package plus its applet symlinks."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from mountlab.runtime import state
from mountlab.runtime.images.store import (
    ImageError,
    mkdir_exact,
    publish,
    refuse_existing,
    staging,
    timestamp,
    validate_name,
    write_config,
)

__all__ = ["build_busybox", "ensure_busybox", "find_busybox", "is_static_elf"]

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
GROUP = "root:x:0:\nnogroup:x:65534:\n"


def is_static_elf(path: str) -> bool:
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
        if os.path.isfile(path) and is_static_elf(path):
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


def _makedirs(path: str, mode: int = 0o755) -> None:
    parent = os.path.dirname(path)
    if parent and not os.path.isdir(parent):
        _makedirs(parent, mode)
    if not os.path.isdir(path):
        mkdir_exact(path, mode)


def _populate_busybox(rootfs: str, busybox: str, applets: list[str]) -> None:
    mkdir_exact(rootfs)
    dirs = {"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
            "etc": 0o755, "home": 0o755, "var": 0o755, "root": 0o700, "tmp": 0o1777,
            "proc": 0o555, "sys": 0o555, "dev": 0o755}
    for rel, mode in dirs.items():
        mkdir_exact(os.path.join(rootfs, rel), mode)
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
    refuse_existing(name, force)
    if not os.environ.get("MOUNTLAB_BUSYBOX"):  # busybox-static installed at its first use
        from mountlab.workshop import packages

        packages.first_use("busybox-static", "./container image build busybox")
    busybox = find_busybox()
    version, applets = _busybox_applets(busybox)
    started = time.monotonic()
    with staging(name) as tmp:
        _populate_busybox(os.path.join(tmp, "rootfs"), busybox, applets)
        write_config(tmp, {"Name": name, "Source": f"{busybox} ({version})",
                            "Created": timestamp(), "Cmd": ["/bin/sh"]})
        published = publish(tmp, name, force=force)
    if not quiet:
        how = "built" if published else "already built by another process"
        print(f"image {name} {how} from {busybox} ({version}), {len(applets)} applets, in "
              f"{time.monotonic() - started:.2f}s: {rootfs}")
    return rootfs


def ensure_busybox() -> str:
    """The rootfs of the ``busybox`` image, built first if missing (for tests and benchmarks)."""
    return build_busybox("busybox", quiet=True)

