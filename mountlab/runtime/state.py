"""Where the runtime keeps things, and the record of running containers.

Layout (shared by ``run``, ``ps``, ``inspect``, ``exec``, ``image`` and ``volume``)::

    <state>/images/<name>/rootfs          an image's root filesystem (never written by a run)
    <state>/volumes/<name>/_data          a named volume's data
    <run>/containers/<id>/state.json      a container: id, name, pid, image, volumes, started
    <run>/containers/<id>/lock            flock(2)ed by the runtime while the container lives
    <run>/containers/<id>/{upper,work,rootfs}   its overlayfs layers (mounted only inside it)

A container is alive exactly while its lock is held: the kernel releases a flock when the last
process holding it dies, ``kill -9`` included, so a stale entry can never pass for a live one
(a PID alone could be reused by an unrelated process).
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

from mountlab.volume import state_dir

TYPE_CHECKING = False  # typing costs milliseconds to import: only for the type checkers
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "state_dir", "run_dir", "images_dir", "image_rootfs", "volumes_dir", "containers_dir",
    "container_dir", "new_container_id", "create_container", "write_state", "read_state",
    "list_containers", "find_container", "volumes_in_use", "remove_container", "clean_stale",
    "mounted_below", "encode",
]

# A directory whose lock file does not exist yet may be one that another runtime is creating
# right now: leave it alone for this long.
_CREATION_GRACE = 10.0


def run_dir() -> str:
    """Volatile runtime state: ``$MOUNTLAB_RUN``, else ``/run/mountlab`` as root, else
    ``$XDG_RUNTIME_DIR/mountlab``, else ``/tmp/mountlab-<uid>``."""
    if os.environ.get("MOUNTLAB_RUN"):
        return os.environ["MOUNTLAB_RUN"]
    if os.geteuid() == 0:
        return "/run/mountlab"
    if os.environ.get("XDG_RUNTIME_DIR"):
        return os.path.join(os.environ["XDG_RUNTIME_DIR"], "mountlab")
    return f"/tmp/mountlab-{os.getuid()}"


def images_dir() -> str:
    return os.path.join(state_dir(), "images")


def image_rootfs(name: str) -> str:
    """The root filesystem of image ``name``: ``<state>/images/<name>/rootfs``."""
    return os.path.join(images_dir(), name, "rootfs")


def volumes_dir() -> str:
    return os.path.join(state_dir(), "volumes")


def containers_dir() -> str:
    return os.path.join(run_dir(), "containers")


def container_dir(cid: str) -> str:
    return os.path.join(containers_dir(), cid)


def new_container_id() -> str:
    """64 hex digits, like Docker; ``ps`` shows the first 12."""
    return os.urandom(32).hex()


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _encode_str(text: str) -> str:
    # JSON strings: escape what JSON requires; lone surrogates (undecodable file names, kept by
    # os.fsdecode) become \udcXX escapes, as json.dumps writes them.
    if text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'  # no control character, no surrogate: nothing to escape
    out = []
    for c in text:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif c < " " or "\ud800" <= c <= "\udfff":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def encode(value: Any, indent: str | None = "") -> str:
    """JSON text for the records' plain values (dict, list, str, int, float, bool, None),
    indented, or on one line when ``indent`` is None (the run plan the keeper reads).

    The json module costs more to import than a whole ``run`` may spend on writing its record
    (its decoder compiles regular expressions at import), hence this small encoder.
    """
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _encode_str(value)
    if indent is None:
        if isinstance(value, dict):
            return "{" + ",".join(f"{_encode_str(str(k))}:{encode(v, None)}"
                                  for k, v in value.items()) + "}"
        if isinstance(value, (list, tuple)):
            return "[" + ",".join([encode(v, None) for v in value]) + "]"
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")
    inner = indent + "  "
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = (f"{inner}{_encode_str(str(k))}: {encode(v, inner)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + encode(v, inner) for v in value) + f"\n{indent}]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _atomic_write(path: str, data: dict[str, Any]) -> None:
    # Readers (ps, another runtime) must never see half a file: write aside, then rename.
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass") as f:
        f.write(encode(data) + "\n")
    os.replace(tmp, path)


def create_container(cid: str, record: dict[str, Any]) -> int:
    """Create ``<run>/containers/<cid>/`` with its lock held and ``state.json`` written.

    Returns the lock's file descriptor (close-on-exec): keep it open for the container's life.
    """
    path = container_dir(cid)
    os.makedirs(containers_dir(), mode=0o711, exist_ok=True)
    os.mkdir(path, 0o711)
    # Locked before it gets its name: a `ps` cleaning stale entries must never find "lock"
    # unlocked for a container being born (it would take it for a dead one and remove it).
    fd = os.open(os.path.join(path, "lock.new"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.rename(os.path.join(path, "lock.new"), os.path.join(path, "lock"))
    write_state(cid, record)
    return fd


def write_state(cid: str, record: dict[str, Any]) -> None:
    _atomic_write(os.path.join(container_dir(cid), "state.json"), record)


def read_state(cid: str) -> dict[str, Any] | None:
    try:
        import json

        with open(os.path.join(container_dir(cid), "state.json"), encoding="utf-8",
                  errors="surrogatepass") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _alive(path: str) -> bool | None:
    """True when the container at ``path`` is held by a live runtime, False when it is stale,
    None when it is too young to tell (being created)."""
    try:
        fd = os.open(os.path.join(path, "lock"), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        try:
            young = time.time() - os.stat(path).st_mtime < _CREATION_GRACE
        except FileNotFoundError:
            return False
        return None if young else False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)  # closing drops the shared lock we may have taken
    return False


def mounted_below(path: str) -> bool:
    """True when ``path`` or anything below it is a mount point in our mount namespace.

    A plain scan of /proc/self/mountinfo (field 5, octal-escaped by the kernel): this runs at the
    end of every ``run``, where parsing every line into objects would cost more than the rest.
    """
    raw = os.fsencode(os.path.realpath(path)).rstrip(b"/") or b"/"
    for char, escaped in ((b"\\", b"\\134"), (b" ", b"\\040"), (b"\t", b"\\011"),
                          (b"\n", b"\\012")):
        raw = raw.replace(char, escaped)
    with open("/proc/self/mountinfo", "rb") as f:
        table = f.read()
    below = raw + b"/"
    for line in table.splitlines():
        point = line.split(b" ", 5)[4]
        if point == raw or point.startswith(below):
            return True
    return False


def _remove_flat(path: str) -> bool:
    """Remove ``path`` when it holds only files and empty directories, as a finished run leaves
    it (lock, state.json, the empty mount point fs/): what rmtree does, without importing shutil
    (and bz2, lzma...) at the end of every run. False when anything else is there; then only
    empty directories may have gone, and rmtree does the rest."""
    try:
        with os.scandir(path) as it:
            entries = [(e.path, e.is_dir(follow_symlinks=False)) for e in it]
        for entry, is_dir in entries:
            if is_dir:
                os.rmdir(entry)  # never recursive: a mount point (EBUSY) or a non-empty one fails
        for entry, is_dir in entries:
            if not is_dir:
                os.unlink(entry)
        os.rmdir(path)
    except OSError:
        return False
    return True


def remove_container(cid: str) -> bool:
    """Delete a container's directory; refuse (False) if anything is mounted below it.

    Its mounts live in the container's own mount namespace, so the host normally sees none; but
    a path that is a mount point here must never be deleted through (rmtree crosses mounts).
    """
    path = container_dir(cid)
    if not os.path.isdir(path):
        return True
    if mounted_below(path):
        return False
    if _remove_flat(path):
        return True
    from mountlab import fsutil  # only here: it imports shutil (and bz2, lzma...)

    try:
        fsutil.remove_tree(path)  # overlayfs's 000 work/work included
    except OSError:
        return False
    return True


def list_containers(clean: bool = True) -> list[dict[str, Any]]:
    """The live containers' records, oldest first; stale entries (runtime gone) are removed when
    ``clean``, so that a ``kill -9`` never leaves a ghost."""
    try:
        names = os.listdir(containers_dir())
    except FileNotFoundError:
        return []
    live = []
    for cid in names:
        path = container_dir(cid)
        if not os.path.isdir(path):
            continue
        alive = _alive(path)
        if alive is False:
            if clean:
                remove_container(cid)
            continue
        record = read_state(cid)
        if alive and record:
            live.append(record)
    live.sort(key=lambda r: r.get("started", ""))
    return live


def clean_stale() -> None:
    """Remove what killed runtimes left behind."""
    list_containers(clean=True)


def find_container(ref: str) -> dict[str, Any]:
    """The live container whose name is ``ref`` or whose id starts with ``ref``.

    Raises ``LookupError`` with Docker's wording when there is none or ``ref`` is ambiguous.
    """
    containers = list_containers()
    for record in containers:
        if record.get("name") == ref or record.get("id") == ref:
            return record
    matches = [r for r in containers if ref and r.get("id", "").startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise LookupError(f"multiple IDs found with provided prefix: {ref}")
    raise LookupError(f"No such container: {ref}")


def volumes_in_use() -> set[str]:
    """Names of the named volumes that live containers use (``volume rm`` refuses these)."""
    return {v["name"] for record in list_containers() for v in record.get("volumes", [])
            if v.get("kind") == "volume" and v.get("name")}
