"""Which code runs for a step: the learner's (``steps/``), the reference (``solutions/``), or any
folder that holds the same files (another learner's copy, a test double).

``MOUNTLAB_IMPL`` chooses: ``steps`` (the default), ``solutions``, or a path. A path may be a
copy of the kit (it holds ``steps/``) or a folder laid out like ``steps/`` itself
(``02/mount_volume.py``).

A step reaches the steps before it through here, never by file path, so that a check can put the
reference or a double in their place::

    from mountlab.impl import step
    step(2).mount_volume(source, target)

``./container run`` loads steps through here on its way to start a container: finding and loading
a step's file uses plain strings and ``registry.entry`` (no pathlib, no TOML parsing); the
``Path`` values of ``folder()`` and ``path_of()`` are built only for callers that ask for them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys

from mountlab import registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from types import CodeType, ModuleType
    from typing import Any

ENV = "MOUNTLAB_IMPL"

_cache: dict[str, ModuleType] = {}  # by the file's path
_overrides: dict[int, Any] = {}
_channel: Any = None  # in a check's checker: the subject process that runs the graded code


class StepImportError(ImportError):
    """The file of a step is missing, does not import, or lacks a function."""


def active() -> str:
    return os.environ.get(ENV) or "steps"


def folder(impl: str | None = None) -> Path:
    """The folder holding ``01/ .. 05/`` for ``impl`` (default: the active one)."""
    from pathlib import Path

    return Path(_folder(impl))


def _folder(impl: str | None) -> str:
    """``folder(impl)`` as a string, without pathlib: a check's subject finds its step here, and
    pathlib's first use in a freshly forked process wrote some 110 pages (a millisecond a check)."""
    impl = impl or active()
    if impl in ("steps", "solutions"):
        return os.path.join(registry.kit_root(), impl)
    path = os.path.realpath(os.path.expanduser(impl))
    steps = os.path.join(path, "steps")
    return steps if os.path.isdir(steps) else path


def _path_of(number: int, impl: str | None = None) -> tuple[registry.Entry, str]:
    s = registry.entry(number)
    return s, os.path.join(_folder(impl), s.folder, s.filename)


def path_of(number: int, impl: str | None = None) -> Path:
    from pathlib import Path

    return Path(_path_of(number, impl)[1])


def _is_file(path: str) -> bool:
    # pathlib.Path.is_file(): False when missing, other errors (EACCES) raised
    try:
        return os.stat(path).st_mode & 0o170000 == 0o100000
    except ValueError:
        return False
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP):
            return False
        raise


def active_folder() -> str:
    """``folder()`` of the active implementation, as a string."""
    return _folder(None)


def serve_from(channel: Any) -> None:
    """From now on the graded code is loaded and called in another process (a check's subject,
    ``mountlab.sandbox.remote``): ``step(N)`` returns its stand-in here."""
    global _channel
    _channel = channel


def load(number: int, impl: str | None = None) -> ModuleType:
    """The module of step ``number`` (loaded once per file), honouring ``use()``."""
    if impl is None and number in _overrides:
        return _overrides[number]
    if impl is None and _channel is not None:
        return _channel.step(number)
    s, path = _path_of(number, impl)
    if path in _cache:
        return _cache[path]
    if not _is_file(path):
        from mountlab.messages import say

        raise StepImportError(say("impl.missing", path=path, number=s.number,
                                  filename=s.filename))
    name = f"mountlab_impl_{abs(hash(os.path.dirname(path)))}_{s.module}"
    module = type(sys)(name)
    module.__file__ = path
    sys.modules[name] = module
    try:
        exec(_code(path), module.__dict__)
    except Exception as exc:
        del sys.modules[name]
        from mountlab.messages import say

        error = f"{type(exc).__name__}: {exc}"
        raise StepImportError(
            say("impl.does_not_import_line", path=path, line=exc.lineno, error=error)
            if isinstance(exc, SyntaxError) else
            say("impl.does_not_import", path=path, error=error)) from exc
    for function in s.functions:
        if not callable(getattr(module, function, None)):
            from mountlab.messages import say

            raise StepImportError(say("impl.no_function", path=path, function=function))
    _cache[path] = module
    return module


step = load


def _code(path: str) -> CodeType:
    """The code of the module at ``path``: its bytecode beside it (``__pycache__``, as the
    grader compiles each submission's) when compiled from this very source (same modification
    time and size), else compiled here. What importlib's loader does, without its machinery:
    a check's subject loads a step in a freshly forked process, where each page the loading
    writes costs a fault (importlib wrote some 170 more: most of a millisecond a check)."""
    import _imp
    import importlib.util
    import marshal
    import types

    with open(path, "rb") as f:
        source_stat = os.fstat(f.fileno())
        try:
            with open(importlib.util.cache_from_source(path), "rb") as cached:
                data = cached.read()
        except (OSError, NotImplementedError):
            data = b""
        if (data[:8] == importlib.util.MAGIC_NUMBER + bytes(4)  # flags 0: checked by timestamp
                and int.from_bytes(data[8:12], "little") == int(source_stat.st_mtime) & 0xFFFFFFFF
                and int.from_bytes(data[12:16], "little") == source_stat.st_size & 0xFFFFFFFF):
            try:
                code = marshal.loads(memoryview(data)[16:])
            except (EOFError, ValueError, TypeError):
                code = None  # a damaged cache: the source decides
            if isinstance(code, types.CodeType):
                # Compiled elsewhere (a tree copied with its times kept): its frames name this
                # file, as importlib makes them.
                _imp._fix_co_filename(code, path)
                return code
        return compile(f.read(), path, "exec", dont_inherit=True)


@contextlib.contextmanager
def use(number: int, module: Any) -> Iterator[None]:
    """Make ``step(number)`` return ``module`` (anything with the step's functions) for a while."""
    before = _overrides.get(number)
    _overrides[number] = module
    try:
        yield
    finally:
        if before is None:
            _overrides.pop(number, None)
        else:
            _overrides[number] = before
