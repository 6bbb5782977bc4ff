"""``image import NAME FILE.tar``: the output of ``docker export`` (optionally compressed) as an
image. Every member is checked before anything is written (absolute paths, ``..``, paths through
the archive's own symlinks), then written without ever following a symlink."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import sys
import tarfile
import time

from mountlab.runtime import state
from mountlab.runtime.images.progress import Reporter
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

__all__ = ["import_tar", "Extractor"]

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


class Extractor:
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
    refuse_existing(name, force)
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
        with staging(name) as tmp:
            rootfs = os.path.join(tmp, "rootfs")
            mkdir_exact(rootfs)
            extractor = Extractor(rootfs)
            try:
                with Reporter(f"import {name}", not quiet) as report:
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
            write_config(tmp, {"Name": name, "Source": f"import {os.path.abspath(tar_path)}",
                                "Created": timestamp(), "Cmd": [shell]})
            publish(tmp, name, force=force)
    if not quiet:
        if extractor.skipped:
            print(f"skipped {len(extractor.skipped)} device or special members (not root?): "
                  f"{', '.join(extractor.skipped[:5])}", file=sys.stderr)
        print(f"image {name} imported from {tar_path} ({len(checked)} members) in "
              f"{time.monotonic() - started:.1f}s: {state.image_rootfs(name)}")
    return state.image_rootfs(name)

