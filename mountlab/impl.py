"""Which code runs for a step: the learner's (``steps/``), the reference (``solutions/``), or any
folder that holds the same files (another learner's copy, a test double).

``MOUNTLAB_IMPL`` chooses: ``steps`` (the default), ``solutions``, or a path. A path may be a
copy of the kit (it holds ``steps/``) or a folder laid out like ``steps/`` itself
(``02/mount_volume.py``).

A step reaches the steps before it through here, never by file path, so that a check can put the
reference or a double in their place::

    from mountlab.impl import step
    step(2).mount_volume(source, target)
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from mountlab import registry

ENV = "MOUNTLAB_IMPL"

_cache: dict[Path, ModuleType] = {}
_overrides: dict[int, Any] = {}


class StepImportError(ImportError):
    """The file of a step is missing, does not import, or lacks a function."""


def active() -> str:
    return os.environ.get(ENV) or "steps"


def folder(impl: str | None = None) -> Path:
    """The folder holding ``01/ .. 05/`` for ``impl`` (default: the active one)."""
    impl = impl or active()
    if impl in ("steps", "solutions"):
        return registry.KIT_ROOT / impl
    path = Path(impl).expanduser().resolve()
    return path / "steps" if (path / "steps").is_dir() else path


def path_of(number: int, impl: str | None = None) -> Path:
    s = registry.get(number)
    return folder(impl) / s.folder / s.filename


def load(number: int, impl: str | None = None) -> ModuleType:
    """The module of step ``number`` (loaded once per file), honouring ``use()``."""
    if impl is None and number in _overrides:
        return _overrides[number]
    path = path_of(number, impl)
    if path in _cache:
        return _cache[path]
    s = registry.get(number)
    if not path.is_file():
        raise StepImportError(f"{path} is missing: step {s.number} needs the file {s.filename} "
                              f"(./workshop reset {s.number} restores the skeleton)")
    name = f"mountlab_impl_{abs(hash(str(path.parent)))}_{s.module}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) else ""
        raise StepImportError(f"{path} does not import{where}: {type(exc).__name__}: {exc}") \
            from exc
    for function in s.functions:
        if not callable(getattr(module, function, None)):
            raise StepImportError(f"{path} has no function {function}(): keep its name as the "
                                  "skeleton gives it")
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
