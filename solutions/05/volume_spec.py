"""Step 5: parse the ``-v`` flag the way Docker does (reference solution)."""

import posixpath
import re

from mountlab.errors import VolumeSpecError
from mountlab.volume import PROPAGATIONS, Volume

# Docker's messages (moby volume/mounts/linux_parser.go and its local volume driver). Use them as
# they are: scripts and people search for these exact words.
INVALID_SPEC = "invalid volume specification: '{spec}'"
INVALID_CONFIG = INVALID_SPEC + ': invalid mount config for type "{kind}": {reason}'
NOT_ABSOLUTE = "invalid mount path: '{path}' mount path must be absolute"
IS_ROOT = "invalid specification: destination can't be '/'"
BIND_ONLY = "field BindOptions must not be specified"  # a propagation mode on a volume
VOLUME_ONLY = "field VolumeOptions must not be specified"  # nocopy on a bind mount
INVALID_MODE = "invalid mode: {modes}"
NAME_TOO_SHORT = ("create {name}: volume name is too short, names should be at least two "
                  "alphanumeric characters")
NAME_INVALID = ('create {name}: "{name}" includes invalid characters for a local volume name, '
                'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
                'directory, use absolute path')
NUL_BYTE = INVALID_SPEC + ": embedded null byte"

# Each mode belongs to a family; a spec may use each family once ("ro,rw" is a conflict).
FAMILIES = {"rw": "rw", "ro": "rw", "z": "label", "Z": "label", "nocopy": "copy"}
FAMILIES.update(dict.fromkeys(PROPAGATIONS, "propagation"))

# fullmatch, not match with "$": "$" also matches before a final newline.
VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")


def parse_volume_spec(spec: str) -> Volume:
    """Parse one ``-v`` value, ``[SRC:]DST[:MODES]``, into a ``Volume``.

    ``/host:/ctr`` is a bind mount, ``name:/ctr`` a named volume, ``/ctr`` alone an anonymous
    volume. Raises ``VolumeSpecError`` with Docker's message when the spec is invalid.
    """
    if "\0" in spec:  # the kernel would cut the path at the NUL: refuse it now
        raise VolumeSpecError(NUL_BYTE.format(spec=spec), spec)
    fields = spec.split(":")
    if "" in fields:
        raise VolumeSpecError(INVALID_SPEC.format(spec=spec), spec)
    match fields:
        case [target]:  # just a destination: an anonymous volume
            source, modes = None, ""
        case [source, target] if not _valid_modes(target):  # '/h:ro' has no destination
            modes = ""
        case [source, target, modes]:
            if not _valid_modes(modes):
                raise VolumeSpecError(INVALID_MODE.format(modes=modes), spec)
        case _:
            raise VolumeSpecError(INVALID_SPEC.format(spec=spec), spec)

    is_bind = source is not None and source.startswith("/")
    kind = "bind" if is_bind else "volume"
    options = modes.split(",")
    propagation = next((mode for mode in options if mode in PROPAGATIONS), "")

    def invalid(reason: str) -> VolumeSpecError:
        return VolumeSpecError(INVALID_CONFIG.format(spec=spec, kind=kind, reason=reason), spec)

    if not target.startswith("/"):
        raise invalid(NOT_ABSOLUTE.format(path=target))
    target = _clean(target)
    if target == "/":  # mounting over the container's root would hide its whole filesystem
        raise invalid(IS_ROOT)
    if is_bind:
        if "nocopy" in options:  # nothing is copied into a bind mount
            raise invalid(VOLUME_ONLY)
        source = _clean(source)
    elif propagation:  # a volume's mount propagation is the runtime's business
        raise invalid(BIND_ONLY)
    elif source is not None:
        if len(source) < 2:
            raise VolumeSpecError(NAME_TOO_SHORT.format(name=source), spec)
        if not VOLUME_NAME.fullmatch(source):  # the name becomes a directory: no '/' nor '..'
            raise VolumeSpecError(NAME_INVALID.format(name=source), spec)
    return Volume(source, target, "ro" in options, kind, propagation, modes)


def _valid_modes(modes: str) -> bool:
    """Every mode known, and at most one of each family (Docker's linuxValidMountMode)."""
    seen = set()
    for mode in modes.split(","):
        family = FAMILIES.get(mode)
        if family is None or family in seen:
            return False
        seen.add(family)
    return True


def _clean(path: str) -> str:
    """``/a//b/./c/../`` -> ``/a/b``, like Go's path.Clean.

    posixpath.normpath keeps a leading ``//`` (POSIX lets it mean something special); Linux and
    Docker read it as ``/``, so ``//`` must not get past the "destination can't be '/'" test.
    """
    return "/" + posixpath.normpath(path).lstrip("/")
