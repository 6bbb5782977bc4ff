"""tests/background.py: slow work begun when collection ends, its tests last."""

from __future__ import annotations

import pytest

from tests import background


class Work:
    def __init__(self, item: Item) -> None:
        self.item, self.stopped = item, 0
        started.append(item.nodeid)

    def stop(self) -> None:
        self.stopped += 1


class Item:
    """What background.py reads of a pytest item."""

    def __init__(self, nodeid: str, start=None) -> None:
        self.nodeid = nodeid
        self.marker = pytest.mark.background(start=start).mark if start else None

    def get_closest_marker(self, name: str):
        return self.marker if name == "background" else None


started: list[str] = []


@pytest.fixture(autouse=True)
def clean():
    started.clear()
    saved = dict(background._started)
    background._started.clear()
    yield
    background._started.clear()
    background._started.update(saved)


def test_waiting_tests_go_last_in_their_order_and_start_once_each():
    items = [Item("a", Work), Item("b"), Item("c", Work), Item("d")]
    background.run_last(items)
    assert [i.nodeid for i in items] == ["b", "d", "a", "c"]
    background.start(items)
    background.start(items)
    assert started == ["a", "c"]
    work = background.handle(items[2])
    assert work.item is items[2] and started == ["a", "c"]


def test_a_test_reached_without_its_work_started_starts_it():
    item = Item("x", Work)
    assert background.handle(item).item is item and started == ["x"]
    with pytest.raises(AssertionError, match="no @pytest.mark.background"):
        background.handle(Item("y"))


def test_the_session_end_stops_what_still_runs():
    items = [Item("a", Work), Item("b", Work)]
    background.start(items)
    works = [background.handle(i) for i in items]
    background.stop_all()
    assert [w.stopped for w in works] == [1, 1] and not background._started
