"""What the subject sends back: a learner's exception as data (``mountlab.sandbox.raised``), with
the text a learner would see in Python's own traceback, and frames (``mountlab.sandbox.wire``);
nothing a submission can make expensive to send (each copy of a megabyte costs a User-Mode Linux
guest a tenth of a second)."""

from __future__ import annotations

import json
import os
import traceback
import tracemalloc

import pytest

from mountlab import errors
from mountlab.sandbox import raised, wire


def _plain():
    raise KeyError("k")


def _caused():
    try:
        _plain()
    except KeyError as exc:
        raise errors.VolumeError("boom") from exc


def _during():
    try:
        _caused()
    except errors.VolumeError:
        raise ValueError()  # noqa: B904 - the context is what this case shows


def _noted():
    exc = OSError(2, "No such file or directory", "/missing")
    exc.add_note("a note")
    raise exc


def _caught(func) -> BaseException:
    try:
        func()
    except BaseException as exc:  # noqa: B036 - every kind is described
        return exc
    raise AssertionError("nothing raised")


@pytest.mark.parametrize("func", [_plain, _caused, _during, _noted])
def test_the_traceback_reads_as_python_prints_it(func):
    exc = _caught(func)
    python = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    assert raised.describe(exc)["traceback"] == python


def test_a_huge_message_is_cut_before_it_is_copied():
    size = 50 << 20
    exc = _caught(lambda: (_ for _ in ()).throw(ValueError("m" * size)))
    tracemalloc.start()
    try:
        data = raised.describe(exc)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Formatting the whole message, as traceback.format_exception does, copies it several times.
    assert peak < 2 << 20, f"describing it allocated {peak} bytes"
    cut = f" [... {size - 20_000} more characters not shown]"
    assert data["message"] == "m" * 20_000 + cut
    # In the traceback, shorter: the frames stay in view.
    assert data["traceback"].startswith("Traceback (most recent call last):")
    assert data["traceback"].endswith(f"ValueError: {'m' * 2_000} [... {size - 2_000} more "
                                      "characters not shown]")
    assert isinstance(raised.rebuild(data), ValueError)


def test_a_long_chain_and_a_deep_recursion_stay_bounded():
    def recurse(n):
        return recurse(n + 1)

    exc = _caught(lambda: recurse(0))
    data = raised.describe(exc)
    assert data["type"] == "RecursionError"
    assert data["traceback"].endswith("RecursionError: maximum recursion depth exceeded")

    def loop():
        first = ValueError("first")
        second = ValueError("second")
        first.__context__, second.__context__ = second, first  # a cycle
        raise first

    data = raised.describe(_caught(loop))
    assert data["traceback"].count("ValueError: second") == 1


def _peak(func) -> int:
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_frame_too_big_is_refused_before_it_is_built():
    r, w = os.pipe()
    try:
        huge = {"returned": ["v" * (10 << 20)]}
        with pytest.raises(wire.WireError, match="over the limit"):
            wire.send(w, huge)
        assert _peak(lambda: pytest.raises(wire.WireError, wire.send, w, huge)) < 1 << 20
        # What fits goes through whole, and comes back the same.
        fits = {"returned": wire.encode({"a": ["é" * 1000, 1, None, 2.5], (1, 2): True})}
        wire.send(w, fits)
        assert wire.receive(r) == json.loads(json.dumps(fits))
    finally:
        os.close(r)
        os.close(w)
