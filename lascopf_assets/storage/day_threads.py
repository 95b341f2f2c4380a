"""Days through a thread, for the lake and the table store: read ahead of the consumer, write behind the producer."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Loaded = TypeVar("Loaded")


def read_ahead(items: Iterable[Item], load: Callable[[Item], Loaded], key: Callable[[Item], str], ahead: int = 1,
               thread_name: str = "reader") -> Iterator[tuple[str, Loaded]]:
    """``(key(item), load(item))`` for each item in order; at most ``ahead`` items beyond the one handed out
    are loaded in advance, so memory holds ``ahead + 1`` loads, whatever the number of items."""
    todo = iter(items)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name) as reader:
        pending: deque[tuple[str, Future]] = deque()
        for item in todo:
            pending.append((key(item), reader.submit(load, item)))
            if len(pending) > ahead:
                break
        while pending:
            name, future = pending.popleft()
            loaded = future.result()
            following = next(todo, None)
            if following is not None:
                pending.append((key(following), reader.submit(load, following)))
            yield name, loaded
            del loaded


def write_behind(items: Iterable[Item], write: Callable[[Item], Loaded], depth: int = 2,
                 thread_name: str = "writer") -> list[Loaded]:
    """``write(item)`` for each item in order, on one thread, at most ``depth`` items handed over and not yet
    written; the results in order. On any error (the producer's or a write's) the items already handed over
    are finished first (each write is whole or nothing), then the first error is raised."""
    written: list[Loaded] = []
    pending: deque[Future] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name) as writer:
        try:
            for item in items:
                pending.append(writer.submit(write, item))
                while len(pending) >= max(1, depth) or (pending and pending[0].done()):
                    written.append(pending.popleft().result())
        except BaseException:
            for future in pending:
                with contextlib.suppress(Exception):
                    future.result()
            raise
        while pending:
            written.append(pending.popleft().result())
    return written
