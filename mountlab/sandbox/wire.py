"""What crosses between processes that do not trust each other: length-prefixed JSON frames.

Nothing read here is ever unpickled, evaluated or imported. A frame is at most ``MAX_FRAME`` bytes;
a longer one, bytes that are not JSON, or a value of the wrong shape end the conversation with
``WireError``. Values are plain JSON plus three tagged forms: a ``Volume``, a dict whose keys are
not strings, and a value that JSON cannot hold, kept only as its ``repr`` (``Unrepresentable``).
"""

from __future__ import annotations

import json
import os
import select
import struct
import time

from mountlab.volume import Volume

MAX_FRAME = 1 << 20  # a return value, an exception and its traceback fit many times over
_HEADER = struct.Struct("!I")


class WireError(Exception):
    """The other side sent something that is not a frame, or went away."""


class Unrepresentable:
    """A value JSON cannot carry (a learner's function returned a Path, a set...): its repr only.

    It equals nothing but itself, so a check comparing it with what it expects fails, and the
    message shows what came back."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def encode(value: object) -> object:
    """``value`` as plain JSON data (Volume and unrepresentable values tagged)."""
    if isinstance(value, Volume):
        return {"$volume": [encode(v) for v in value]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"$items": [[encode(k), encode(v)] for k, v in value.items()]}
    return {"$repr": _repr(value)}


def decode(data: object) -> object:
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict):
        if "$volume" in data:
            fields = data["$volume"]
            if not isinstance(fields, list) or len(fields) != len(Volume._fields):
                raise WireError("a malformed volume")
            return Volume(*(decode(v) for v in fields))
        if "$repr" in data:
            return Unrepresentable(str(data["$repr"]))
        if "$items" in data:  # keys JSON cannot hold; a list key comes back as a tuple
            return {_key(decode(k)): decode(v) for k, v in data["$items"]}
        return {k: decode(v) for k, v in data.items()}
    return data


def _key(value: object) -> object:
    return tuple(_key(v) for v in value) if isinstance(value, list) else value


def _repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001 - a repr that raises is still an answer
        text = f"<{type(value).__name__} whose repr raised {type(exc).__name__}>"
    return text[:2000]


def _over(value: object, budget: int) -> int:
    """What is left of ``budget`` (bytes of JSON) after ``value``'s strings, at most: below 0
    when ``value`` cannot fit. Counted without building the text: a learner's 10 MB string is
    refused before it is copied (twice: to JSON, then to bytes)."""
    if isinstance(value, str):
        return budget - len(value)
    if isinstance(value, (list, tuple)):
        for item in value:
            budget = _over(item, budget - 1)
            if budget < 0:
                break
        return budget
    if isinstance(value, dict):
        for key, item in value.items():
            budget = _over(item, _over(key, budget - 4))
            if budget < 0:
                break
        return budget
    return budget - 1


def send(fd: int, message: dict) -> None:
    if _over(message, MAX_FRAME) < 0:
        raise WireError(f"a message of more than {MAX_FRAME} bytes is over the limit")
    data = json.dumps(message, ensure_ascii=True).encode()
    if len(data) > MAX_FRAME:
        raise WireError(f"a message of {len(data)} bytes is over the limit of {MAX_FRAME}")
    data = _HEADER.pack(len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def receive(fd: int, deadline: float | None = None) -> dict:
    """One frame from ``fd``, as a dict; ``WireError`` on EOF, garbage, or past ``deadline``."""
    size = _HEADER.unpack(_read(fd, _HEADER.size, deadline))[0]
    if size > MAX_FRAME:
        raise WireError(f"the other side announced {size} bytes, over the limit of {MAX_FRAME}")
    try:
        message = json.loads(_read(fd, size, deadline))
    except (ValueError, UnicodeDecodeError):
        raise WireError("the other side sent bytes that are not JSON") from None
    if not isinstance(message, dict):
        raise WireError("the other side sent JSON that is not an object")
    return message


def _read(fd: int, size: int, deadline: float | None) -> bytes:
    buf = b""
    while len(buf) < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise WireError("no answer in time")
        chunk = os.read(fd, size - len(buf))
        if not chunk:
            raise WireError("the other side closed the channel")
        buf += chunk
    return buf
