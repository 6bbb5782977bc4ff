"""Step 5: parse the ``-v`` flag the way Docker does. Read README.md beside this file first."""

import posixpath  # noqa: F401
import re  # noqa: F401

from mountlab.errors import VolumeSpecError  # noqa: F401
from mountlab.volume import PROPAGATIONS, Volume  # noqa: F401

# Docker's messages (moby volume/mounts/linux_parser.go and its local volume driver). Use them as
# they are, for example VolumeSpecError(INVALID_SPEC.format(spec=spec), spec): the checks compare
# messages exactly, because scripts and people search for these words.
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


def parse_volume_spec(spec: str) -> Volume:
    """Parse one ``-v`` value, ``[SRC:]DST[:MODES]``, into a ``Volume``.

    ``/host:/ctr`` is a bind mount, ``name:/ctr`` a named volume, ``/ctr`` alone an anonymous
    volume. Raises ``VolumeSpecError`` with Docker's message when the spec is invalid.
    """
    # TODO 1: refuse a NUL byte (NUL_BYTE), then split on ':'. One, two or three fields, none of
    #         them empty, else INVALID_SPEC. With two fields, the second must not be a mode
    #         ('/h:ro' has no destination): INVALID_SPEC too.
    # TODO 2: check MODES: a comma list of rw ro z Z nocopy and the PROPAGATIONS, at most one
    #         of rw/ro, one of z/Z, one propagation, one nocopy; else INVALID_MODE.
    # TODO 3: a source starting with '/' is a bind mount, anything else a volume ("volume").
    # TODO 4: the destination must be absolute (NOT_ABSOLUTE), is cleaned (no '.', '..', '//',
    #         trailing '/') and must not be '/' (IS_ROOT): wrap both in INVALID_CONFIG.
    # TODO 5: nocopy only on a volume (VOLUME_ONLY), a propagation only on a bind (BIND_ONLY),
    #         both in INVALID_CONFIG; clean a bind's source; a volume's name matches
    #         [a-zA-Z0-9][a-zA-Z0-9_.-]+ (NAME_TOO_SHORT for one character, else NAME_INVALID).
    # TODO 6: return Volume(source, target, read_only, kind, propagation, modes).
    raise NotImplementedError("parse_volume_spec: fill in the TODOs")
