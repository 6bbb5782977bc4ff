"""Build the Gradescope autograder: a zip with ``setup.sh`` and ``run_autograder`` at its root,
beside the kit's code and checks (no solutions, no kit tests).

Gradescope unzips it into ``/autograder/source``, runs ``setup.sh`` once when building its image,
then ``run_autograder`` for each submission, which grades ``/autograder/submission`` with
``./workshop grade --format gradescope`` and always leaves ``/autograder/results/results.json``.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from mountlab import registry
from mountlab.grading.grader import INSTRUCTOR_DIR

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TEMPLATES = Path(__file__).with_name("templates")
# What the autograder needs of the kit: its package, the checks, the plugin's conftest.
INCLUDE = ("mountlab", "steps", INSTRUCTOR_DIR, "conftest.py", "pyproject.toml")
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
DEFAULT_TIMEOUT = 480  # Gradescope stops everything at 10 minutes by default, with no results


def kit_files(kit: Path = registry.KIT_ROOT, hidden: bool = True) -> list[Path]:
    """The files of the kit that go into the autograder, relative to ``kit``."""
    files = []
    for name in INCLUDE:
        if name == INSTRUCTOR_DIR and not hidden:
            continue
        path = kit / name
        if path.is_file():
            files.append(Path(name))
        elif path.is_dir():
            files += sorted(p.relative_to(kit) for p in path.rglob("*")
                            if p.is_file() and not SKIP_PARTS & set(p.parts)
                            and p.suffix not in (".pyc", ".tmp"))
    return files


def requirements(kit: Path = registry.KIT_ROOT) -> str:
    """The kit's runtime dependencies from ``pyproject.toml``, as a requirements file."""
    with open(kit / "pyproject.toml", "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    return "".join(f"{d}\n" for d in deps)


def _add(zf: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))  # reproducible zips
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
    zf.writestr(info, data)


def build(out: Path, *, timeout: int = DEFAULT_TIMEOUT, hidden: bool = True,
          kit: Path = registry.KIT_ROOT, lang: str = "en") -> list[str]:
    """Write the autograder zip to ``out``; return the names it holds. ``lang`` is the language
    the learners read their results in (a setting of the zip's ``run_autograder``)."""
    import json

    from mountlab.messages import say

    if lang not in registry.LANGS:
        raise ValueError(f"unknown language {lang!r}: one of {', '.join(registry.LANGS)}")
    run = (TEMPLATES / "run_autograder").read_text()
    run = run.replace("@TIMEOUT@", str(int(timeout)))
    run = run.replace("@HIDDEN@", "" if hidden else "--no-hidden")
    run = run.replace("@LANG@", lang)
    run = run.replace("@CRASHED@", json.dumps(say("grading.autograder_crashed", lang))[1:-1])
    out.parent.mkdir(parents=True, exist_ok=True)
    names = []
    with zipfile.ZipFile(out, "w") as zf:
        _add(zf, "setup.sh", (TEMPLATES / "setup.sh").read_bytes(), executable=True)
        _add(zf, "run_autograder", run.encode(), executable=True)
        _add(zf, "requirements.txt", requirements(kit).encode())
        names += ["setup.sh", "run_autograder", "requirements.txt"]
        for rel in kit_files(kit, hidden):
            path = kit / rel
            _add(zf, rel.as_posix(), path.read_bytes(), executable=bool(path.stat().st_mode
                                                                        & 0o111))
            names.append(rel.as_posix())
    return names
