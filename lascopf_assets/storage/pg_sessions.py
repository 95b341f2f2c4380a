"""Connections of the table store: one cached session per thread (no dagster here).

:func:`connect` opens an autocommit connection in UTC and turns a failure into
one line (:class:`TableStoreError`). :class:`ThreadSessions` hands each thread
its own cached connection, reopened when broken or left inside a transaction by
an exception; a nested use on the same thread (e.g. a load from an ``on_chunk``
callback during a COPY) gets its own short-lived connection.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping

import psycopg

from lascopf_assets.storage.pg_types import TableStoreError


def connect(conninfo: str, connect_kwargs: Mapping[str, object]) -> psycopg.Connection:
    """An autocommit connection with ``TIME ZONE 'UTC'``."""
    try:
        conn = psycopg.connect(conninfo, autocommit=True, **connect_kwargs)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TableStoreError(f"cannot connect to PostgreSQL: {first}") from exc
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


class ThreadSessions:
    """Per-thread cached connections opened by ``connect``; :meth:`close` closes them all."""

    def __init__(self, connect: Callable[[], psycopg.Connection]):
        self._connect = connect
        self._local = threading.local()
        self._open_lock = threading.Lock()
        self._open: list[psycopg.Connection] = []

    @contextlib.contextmanager
    def session(self, conn: psycopg.Connection | None = None) -> Iterator[psycopg.Connection]:
        """The caller's connection, or this thread's cached one (reopened when broken).

        A nested use (e.g. a load from an ``on_chunk`` callback during a COPY)
        gets its own short-lived connection, like any other session would.
        """
        if conn is not None:
            yield conn
            return
        if getattr(self._local, "busy", False):
            with self._connect() as temporary:
                yield temporary
            return
        cached = getattr(self._local, "conn", None)
        if cached is None or cached.closed or cached.broken:
            cached = self._connect()
            self._local.conn = cached
            with self._open_lock:
                self._open.append(cached)
        self._local.busy = True
        try:
            yield cached
        except BaseException:
            if cached.broken or cached.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                self._local.conn = None
                with contextlib.suppress(Exception):
                    cached.close()
            raise
        finally:
            self._local.busy = False

    def close(self) -> None:
        """Close the connections opened so far (all threads)."""
        with self._open_lock:
            conns, self._open = self._open, []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()
