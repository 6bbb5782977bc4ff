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
    from types import ModuleType
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
    impl = impl or active()
    if impl in ("steps", "solutions"):
        return registry.KIT_ROOT / impl
    from pathlib import Path

    path = Path(impl).expanduser().resolve()
    return path / "steps" if (path / "steps").is_dir() else path


def _folder(impl: str | None) -> str:
    """``str(folder(impl))``, without pathlib for the kit's own two folders."""
    impl = impl or active()
    if impl in ("steps", "solutions"):
        return os.path.join(registry.kit_root(), impl)
    return os.fspath(folder(impl))


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
    import importlib.util

    name = f"mountlab_impl_{abs(hash(os.path.dirname(path)))}_{s.module}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
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
