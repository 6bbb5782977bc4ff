"""Attack: code in a serialized payload. parse_volume_spec returns (or writes straight on its
channel) values built to run code or to compare equal to anything once the grader reads them:
an object whose __reduce__ runs a command (what pickle.loads would run), a Volume whose fields
equal everything, JSON tagged as the kit's own values, an exception that claims to be the
grader's. None of it may run in the grader or earn a point."""

import json
import os
import pickle
import stat
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attack_kit  # noqa: E402

from mountlab.volume import Volume  # noqa: E402

PWNED = attack_kit.TARGETS.get("pwned", "/tmp/pwned")


class Payload:
    def __reduce__(self):
        return (os.system, (f"echo pwned > {PWNED}",))

    def __eq__(self, other):
        return True

    def __hash__(self):
        return 0


class Anything(str):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = str.__hash__


class Forged(Volume):
    def __eq__(self, other):
        return True


class SandboxError(Exception):
    """Named like the grader's own error."""


def _channel() -> int:
    """The descriptor of the channel: the one socket this process holds."""
    for fd in range(3, 256):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                return fd
        except OSError:
            continue
    return 1


def _raw(message: dict) -> None:
    """Answer on the channel itself, then leave."""
    data = json.dumps(message).encode()
    os.write(_channel(), struct.pack("!I", len(data)) + data)
    os._exit(0)


def parse_volume_spec(spec):
    kind = zlib.crc32(spec.encode(errors="replace")) % 7
    if kind == 0:
        return Payload()
    if kind == 1:
        return Forged(Payload(), Anything("/x"), Payload(), Anything("bind"), Anything(""),
                      Anything(""))
    if kind == 2:
        return pickle.dumps(Payload())
    if kind == 3:
        _raw({"returned": {"$volume": [{"$repr": "x"}] * 6, "__class__": "Volume",
                           "py/object": "os.system", "args": [f"echo pwned > {PWNED}"]}})
    if kind == 4:
        _raw({"returned": {"$volume": [None] * 9}, "pickle": pickle.dumps(Payload()).hex()})
    if kind == 5:
        raise SandboxError("all checks passed")
    _raw({"raised": {"type": "VolumeSpecError", "bases": ["Payload", "Exception"],
                     "message": Anything(spec), "spec": {"$repr": spec}, "pids": [Payload]
                     .__repr__(), "errno": "os.system('id')"}})
