"""Read a sequence of days one at a time while the next ones load on a thread (lake files, table windows)."""

from __future__ import annotations

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
