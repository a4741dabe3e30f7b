"""SQLite writers of one process take turns in the order they asked."""

import os
import threading
import time

from creditdesk.db import _WriterQueue

DEADLINE_SECONDS = 10.0


def _until(condition: object) -> None:
    # Spins on the queue's own state rather than sleeping for a guessed time.
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the other thread never got there"
        os.sched_yield()


def test_the_turn_goes_to_the_writer_that_waited_not_back_to_the_last_one() -> None:
    queue = _WriterQueue()
    releaser: dict[str, object] = {}
    waiter: dict[str, object] = {}
    order: list[str] = []

    def wait_for_turn() -> None:
        queue.enter(waiter)
        order.append("waiter")
        queue.leave(waiter)

    queue.enter(releaser)
    thread = threading.Thread(target=wait_for_turn)
    thread.start()
    _until(lambda: queue._waiting)

    # The outbox worker's pattern: let go, then at once start the next one.
    queue.leave(releaser)
    queue.enter(releaser)
    order.append("releaser")
    queue.leave(releaser)
    thread.join()

    assert order == ["waiter", "releaser"]


def test_a_connection_already_holding_the_turn_does_not_wait_for_itself() -> None:
    queue = _WriterQueue()
    info: dict[str, object] = {}

    queue.enter(info)
    queue.enter(info)
    queue.leave(info)

    other: dict[str, object] = {}
    queue.enter(other)
    assert other[_WriterQueue._HELD] is True
    queue.leave(other)
