"""``--mount`` parsing and the checks that span all the mounts of one ``run``.

``-v`` itself is parsed by the active step 5 (the learner's ``parse_volume_spec``); everything
here runs before anything is created, so that a bad spec changes nothing on the host (moby parses
at create time and creates host directories only at start).

Wording follows docker/cli ``opts/mount.go`` and moby ``volume/mounts/linux_parser.go``.
"""

from __future__ import annotations

import os
import posixpath

from mountlab.errors import VolumeSpecError
from mountlab.volume import PROPAGATIONS, Volume

__all__ = ["Tmpfs", "clean_target", "parse_mount_spec", "check_mounts", "valid_name",
           "PATH_MAX", "NAME_MAX"]

PATH_MAX = 4096  # including the terminating NUL: the longest path mount(2) takes is 4095 bytes
NAME_MAX = 255
_TRUE = ("1", "t", "true", "TRUE", "True")  # Go's strconv.ParseBool
_FALSE = ("0", "f", "false", "FALSE", "False")


class Tmpfs:
    """A ``--mount type=tmpfs`` request: mounted by the runtime itself, not by the steps."""

    __slots__ = ("target", "read_only", "size", "mode")

    def __init__(self, target: str, read_only: bool = False, size: int | None = None,
                 mode: int | None = None) -> None:
        self.target, self.read_only, self.size, self.mode = target, read_only, size, mode

    kind = "tmpfs"
    source = None

    def options(self) -> str:
        opts = []
        if self.size is not None:
            opts.append(f"size={self.size}")
        if self.mode is not None:
            opts.append(f"mode={self.mode:o}")
        return ",".join(opts)

    def __repr__(self) -> str:
        return f"Tmpfs(target={self.target!r}, read_only={self.read_only})"


def clean_target(path: str) -> str:
    """``/a//b/../c/`` -> ``/a/c`` (Go's filepath.Clean: ``//x`` is ``/x``, unlike posixpath)."""
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def _bool(key: str, value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"invalid value for {key}: {value}")


def _size(value: str) -> int:
    # docker's units.RAMInBytes: a number with an optional b/k/m/g/t suffix, binary units
    import re

    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", value.strip().lower())
    if not match:
        raise ValueError(f"invalid value for tmpfs-size: {value}")
    return int(float(match.group(1)) * 1024 ** " kmgt".index(match.group(2) or " "))


def _fields(spec: str) -> list[str]:
    # docker reads --mount as one CSV record, so a value may be quoted: "src=/a,b",dst=/x
    if '"' not in spec:
        return spec.split(",") if spec else []
    import csv

    try:
        return next(csv.reader([spec]), [])
    except csv.Error as exc:
        raise ValueError(str(exc)) from None


def parse_mount_spec(spec: str) -> Volume | Tmpfs:
    """Parse one ``--mount`` value into a ``Volume`` (bind or volume) or a ``Tmpfs``.

    Raises ``VolumeSpecError`` whose message names the spec. Whether a bind source exists is
    checked here too: unlike ``-v``, ``--mount`` never creates it.
    """
    try:
        return _parse_mount(spec)
    except ValueError as exc:
        raise VolumeSpecError(f'invalid argument "{spec}" for "--mount" flag: {exc}',
                              spec) from None


def _parse_mount(spec: str) -> Volume | Tmpfs:
    if "\0" in spec:
        raise ValueError("embedded null byte")
    kind, source, target = "volume", None, None
    read_only, propagation, nocopy = False, "", False
    size = mode = None
    given: set[str] = set()  # which option families were used, to refuse mixing
    for field in _fields(spec):
        key, sep, value = field.partition("=")
        key = key.strip().lower()
        if not sep:
            if key in ("readonly", "ro"):
                read_only = True
                continue
            if key == "volume-nocopy":
                nocopy = True
                given.add("volume")
                continue
            raise ValueError(f"invalid field '{field}' must be a key=value pair")
        if key == "type":
            kind = value.lower()
        elif key in ("source", "src"):
            source = value
        elif key in ("target", "dst", "destination"):
            target = value
        elif key in ("readonly", "ro"):
            read_only = _bool(key, value)
        elif key == "bind-propagation":
            propagation = value.lower()
            given.add("bind")
        elif key == "volume-nocopy":
            nocopy = _bool(key, value)
            given.add("volume")
        elif key == "tmpfs-size":
            size = _size(value)
            given.add("tmpfs")
        elif key == "tmpfs-mode":
            try:
                mode = int(value, 8)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {value}") from None
            given.add("tmpfs")
        elif key == "consistency":
            continue  # macOS-only in Docker; accepted and ignored
        else:
            raise ValueError(f"unexpected key '{key}' in '{field}'")
    if not target:
        raise ValueError("target is required")
    for family in sorted(given - {kind}):
        raise ValueError(f"cannot mix '{family}-*' options with mount type '{kind}'")
    prefix = f'invalid mount config for type "{kind}": '
    if kind not in ("bind", "volume", "tmpfs"):
        raise ValueError(prefix + "mount type unknown")
    if not target.startswith("/"):
        raise ValueError(prefix + f"invalid mount path: '{target}' mount path must be absolute")
    target = clean_target(target)
    if target == "/":
        raise ValueError(prefix + "invalid specification: destination can't be '/'")
    if kind == "tmpfs":
        if source:
            raise ValueError(prefix + "field Source must not be specified")
        return Tmpfs(target, read_only, size, mode)
    if propagation and propagation not in PROPAGATIONS:
        raise ValueError(prefix + f"invalid propagation mode: {propagation}")
    if kind == "bind":
        if not source:
            raise ValueError(prefix + "field Source must not be empty")
        if source == "." or source.startswith("./"):
            source = os.path.abspath(source)  # docker's CLI expands these two forms only
        if not source.startswith("/"):
            raise ValueError(prefix + f"invalid mount path: '{source}' mount path must be "
                             "absolute")
        if not os.path.lexists(source):
            raise ValueError(prefix + f"bind source path does not exist: {source}")
        return Volume(source, target, read_only, "bind", propagation,
                      "ro" if read_only else "")
    if source and not valid_name(source):
        raise ValueError(prefix + f'"{source}" includes invalid characters for a local volume '
                         'name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed')
    modes = ",".join(m for m, on in (("ro", read_only), ("nocopy", nocopy)) if on)
    return Volume(source or None, target, read_only, "volume", "", modes)


def valid_name(name: str) -> bool:
    """moby's rule for volume and container names: ``[a-zA-Z0-9][a-zA-Z0-9_.-]+``."""
    ok = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
    return len(name) >= 2 and name[0].isascii() and name[0].isalnum() and set(name) <= ok


def _check_path(path: str, what: str, spec: str) -> None:
    raw = os.fsencode(path)
    if b"\0" in raw:
        raise VolumeSpecError(f"invalid {what} in '{spec}': embedded null byte", spec)
    if len(raw) >= PATH_MAX:
        raise VolumeSpecError(f"invalid {what}: path is {len(raw)} bytes long, the limit is "
                              f"{PATH_MAX - 1}: '{spec}'", spec)
    for part in raw.split(b"/"):
        if len(part) > NAME_MAX:
            raise VolumeSpecError(f"invalid {what}: a file name is {len(part)} bytes long, the "
                                  f"limit is {NAME_MAX}: '{spec}'", spec)


def check_mounts(mounts: list[tuple[str, Volume | Tmpfs]]) -> None:
    """Checks across every mount of a run, each given with the spec it came from.

    Refuses: a destination given twice (``/x`` and ``/x/`` are the same), ``/`` itself, anything in
    ``/proc`` (runc refuses it: the container would hide or fake kernel files), paths the kernel
    cannot take (NUL byte, longer than PATH_MAX, a name longer than NAME_MAX).
    """
    seen: set[str] = set()
    for spec, m in mounts:
        if m.source is not None and m.kind == "bind":
            _check_path(m.source, "source path", spec)
        _check_path(m.target, "mount path", spec)
        if not m.target.startswith("/"):
            raise VolumeSpecError(f"invalid mount path: '{m.target}' mount path must be "
                                  "absolute", spec)
        target = clean_target(m.target)
        if target == "/":
            raise VolumeSpecError(f"invalid specification: destination can't be '/': '{spec}'",
                                  spec)
        if target == "/proc" or target.startswith("/proc/"):
            raise VolumeSpecError(f"invalid mount path: '{target}' cannot be mounted because it "
                                  f"is inside /proc: '{spec}'", spec)
        if target in seen:
            raise VolumeSpecError(f"Duplicate mount point: {target}", spec)
        seen.add(target)
