"""Loading a step's file (``impl.load``): its bytecode when it was compiled from this very source,
the source otherwise, and import errors that name the file and line."""

import os
import py_compile

import pytest

from mountlab import impl
from mountlab.messages import say


def _step1(folder, body: str) -> str:
    (folder / "01").mkdir()
    path = folder / "01" / "setup_volume.py"
    path.write_text(body)
    return str(path)


def test_current_bytecode_is_what_runs(tmp_path):
    """As importlib does: bytecode compiled from a source of the same time and size is used."""
    path = _step1(tmp_path, "def setup_volume(v):\n    return 'from the source.'\n")
    stat = os.stat(path)
    py_compile.compile(path, doraise=True)  # the grader compiles each submission so
    _step1_rewritten(path, "def setup_volume(v):\n    return 'from elsewhere!!'\n", stat)
    # The same size and time: the bytecode (of the first text) is taken for current.
    assert impl.load(1, str(tmp_path)).setup_volume(None) == "from the source."


def test_stale_or_damaged_bytecode_gives_way_to_the_source(tmp_path):
    path = _step1(tmp_path, "def setup_volume(v):\n    return 'old'\n")
    py_compile.compile(path, doraise=True)
    stat = os.stat(path)
    _step1_rewritten(path, "def setup_volume(v):\n    return 'new, longer'\n", stat)
    assert impl.load(1, str(tmp_path)).setup_volume(None) == "new, longer"

    other = tmp_path / "other"
    other.mkdir()
    path = _step1(other, "def setup_volume(v):\n    return 'source'\n")
    cached = py_compile.compile(path, doraise=True)
    with open(cached, "r+b") as f:
        f.truncate(20)  # a header that matches, and a body cut short
    module = impl.load(1, str(other))
    assert module.setup_volume(None) == "source" and module.__file__ == path


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    path = _step1(tmp_path, "def setup_volume(v):\n    return (\n")
    with pytest.raises(impl.StepImportError) as raised:
        impl.load(1, str(tmp_path))
    cause = raised.value.__cause__
    assert isinstance(cause, SyntaxError) and cause.lineno == 2
    assert str(raised.value) == say("impl.does_not_import_line", path=path, line=2,
                                    error=f"SyntaxError: {cause}")


def _step1_rewritten(path: str, text: str, stat: os.stat_result) -> None:
    with open(path, "w") as f:
        f.write(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_bytecode_compiled_elsewhere_names_this_file(tmp_path):
    """A tree copied with its times kept (``cp -a``, a grader's work folder): its bytecode was
    compiled under another path, and the frames of its functions name the file where it is now,
    as importlib makes them (tracebacks shown to the learner name that file)."""
    import shutil

    first = tmp_path / "first"
    first.mkdir()
    py_compile.compile(_step1(first, "def setup_volume(v):\n    raise KeyError(v)\n"),
                       doraise=True)
    shutil.copytree(first, tmp_path / "moved")  # copy2: times kept, so the cache is current
    shutil.rmtree(first)
    module = impl.load(1, str(tmp_path / "moved"))
    path = str(tmp_path / "moved" / "01" / "setup_volume.py")
    assert module.setup_volume.__code__.co_filename == path
