"""The runtime's files stay small and import in one direction, and ``run`` stays light to start."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from mountlab import registry

RUNTIME = registry.KIT_ROOT / "mountlab" / "runtime"
MAX_LINES = 400
# What a `run` must not pay for at start-up: each costs milliseconds to import (or, for pickle,
# would carry executable data between processes).
HEAVY = ("json", "pickle", "typing", "argparse", "subprocess", "shutil", "tempfile", "tarfile",
         "threading", "dataclasses", "inspect", "rich")


def _module_name(path: Path) -> str:
    parts = path.relative_to(registry.KIT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in RUNTIME.rglob("*.py"))


def test_the_modules_were_found():
    assert {"mountlab.runtime.run", "mountlab.runtime.plan", "mountlab.runtime.keeper",
            "mountlab.runtime.init", "mountlab.runtime.images.store"} <= set(MODULES)


@pytest.mark.parametrize("path", sorted(RUNTIME.rglob("*.py")), ids=lambda p: p.name)
def test_no_file_is_over_the_line_limit(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path} has {lines} lines: split it along its jobs"


def _imports(name: str) -> set[str]:
    """The runtime modules that ``name`` imports, at its top or inside its functions."""
    path = RUNTIME.parent.parent / (name.replace(".", "/"))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from package import module` imports the module too
            targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


def test_imports_go_one_way():
    """No cycle among the runtime's modules, lazy imports included: each can be read after
    the modules it uses, from the command line down to execve."""
    graph = {name: _imports(name) for name in MODULES}
    assert graph["mountlab.runtime.run"] >= {"mountlab.runtime.plan", "mountlab.runtime.keeper"}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = path[path.index(name):] + [name]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        for other in sorted(graph[name]):
            visit(other, [*path, name])
        done.add(name)

    for name in MODULES:
        visit(name, [])


@pytest.mark.parametrize("name", MODULES)
def test_each_module_imports_alone(name):
    proc = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=registry.KIT_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_run_starts_light():
    """What ``./container run`` imports before it forks the keeper adds none of the heavy
    modules to what the interpreter loads anyway."""
    code = ("import sys\nbefore = set(sys.modules)\n"
            "import mountlab.runtime.cli, mountlab.runtime.run\n"
            "args = mountlab.runtime.cli.fast_run_args(['run', '-v', '/a:/b', 'busybox', 'sh'])\n"
            "assert args is not None\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules and m not in before))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=registry.KIT_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
