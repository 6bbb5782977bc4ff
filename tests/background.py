"""Slow tests whose work mostly waits (downloads, a whole suite in a fresh machine) start it when
collection ends, beside the other tests, and wait for it when their turn comes (they run last).

A test asks for it with ``@pytest.mark.background(start=f)``: ``f(item)`` begins the work and
returns a handle with ``stop()`` (for a session that ends before the test); the
``background_work`` fixture (tests/conftest.py) gives the test its handle, starting the work then
if nothing had.
"""

from __future__ import annotations

from typing import Any, Protocol

import pytest


class Handle(Protocol):
    def stop(self) -> None: ...


_started: dict[str, Handle] = {}


def _starter(item: pytest.Item) -> Any:
    marker = item.get_closest_marker("background")
    return marker.kwargs["start"] if marker else None


def run_last(items: list[pytest.Item]) -> None:
    """Tests with work in the background go last, keeping their order: they wait only for
    what is not done by then."""
    items[:] = ([i for i in items if _starter(i) is None]
                + [i for i in items if _starter(i) is not None])


def start(items: list[pytest.Item]) -> None:
    """Start the background work of every test about to run (pytest_collection_finish)."""
    for item in items:
        begin = _starter(item)
        if begin is not None and item.nodeid not in _started:
            _started[item.nodeid] = begin(item)


def handle(item: pytest.Item) -> Any:
    """This test's work: started with the session, or now."""
    if item.nodeid not in _started:
        begin = _starter(item)
        assert begin is not None, f"{item.nodeid}: no @pytest.mark.background(start=...)"
        _started[item.nodeid] = begin(item)
    return _started[item.nodeid]


def stop_all() -> None:
    """At the session's end: whatever still runs (its test was not reached) is ended."""
    while _started:
        _, running = _started.popitem()
        running.stop()
