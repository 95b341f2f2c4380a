"""SQLite event-log and run storage for the local profile: pooled, WAL with synchronous=NORMAL.

Dagster's SQLite storages open a new SQLAlchemy engine and connection for every
unit of work (every event) and keep SQLite's default ``synchronous=FULL``. A
single-run backfill of a year of daily partitions writes thousands of events
(a planned and a materialization event per asset and day), and each of them
then pays for an fsync of the WAL, a checkpoint with fsyncs when the last
connection to the file closes, and SQL compilation in a fresh engine. Measured
on 365 days x 4 no-op daily assets: 148 s with Dagster's storages on disk,
28 s on tmpfs; see benchmarks/backfill.py for the real pipeline.

These subclasses keep one engine per database file with a small connection
pool, so connections stay open (no checkpoint on every close) and compiled
statements are reused, and set ``synchronous=NORMAL`` on each new connection.
That is SQLite's recommended setting in WAL mode: commits stay atomic and
durable across application and process crashes; only the most recent
transactions may be lost on power loss or an OS crash, without corrupting the
database. Right for a laptop instance; production runs on PostgreSQL
(docker/dagster.yaml). The local ``dagster.yaml`` selects these classes.

Both classes replace one connection method of their Dagster base class
(dagster is pinned to 1.13.x in pyproject.toml; the tests exercise them).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS

SYNCHRONOUS = "NORMAL"
ENGINES_KEPT = 8  # database files with an open engine at once: the index shard and recent runs


def _base_dir(config_value: dict, *under_home: str) -> str:
    """``base_dir`` from config, else Dagster's default layout under ``$DAGSTER_HOME``."""
    if config_value.get("base_dir"):
        return config_value["base_dir"]
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise ValueError("DAGSTER_HOME is not set and no base_dir is configured for the SQLite storage")
    return os.path.join(home, *under_home)


def _optional_base_dir() -> dict:
    return {"base_dir": dg.Field(dg.StringSource, is_required=False)}


def pooled_engine(conn_string: str) -> Engine:
    engine = create_engine(
        conn_string,
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=4,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
        cursor.close()

    return engine


class _Engines:
    """Engines by connection string, least recently used ones disposed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engines: OrderedDict[str, Engine] = OrderedDict()

    def get(self, conn_string: str) -> tuple[Engine, bool]:
        """The engine and whether it was just created."""
        with self._lock:
            engine = self._engines.get(conn_string)
            if engine is not None:
                self._engines.move_to_end(conn_string)
                return engine, False
            engine = self._engines[conn_string] = pooled_engine(conn_string)
            while len(self._engines) > ENGINES_KEPT:
                _, oldest = self._engines.popitem(last=False)
                oldest.dispose()
            return engine, True


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with pooled ``synchronous=NORMAL`` connections (see module doc)."""

    @classmethod
    def config_type(cls):
        return _optional_base_dir()

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(base_dir=_base_dir(config_value, "history", "runs"), inst_data=inst_data)

    @property
    def _pooled(self) -> _Engines:
        if "_pooled_engines" not in self.__dict__:
            self.__dict__["_pooled_engines"] = _Engines()
        return self.__dict__["_pooled_engines"]

    @contextmanager
    def _connect(self, shard: str) -> Iterator:
        with self._db_lock:
            engine, _new = self._pooled.get(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn


class PooledSqliteRunStorage(SqliteRunStorage):
    """``SqliteRunStorage`` with pooled ``synchronous=NORMAL`` connections (see module doc)."""

    @classmethod
    def config_type(cls):
        return _optional_base_dir()

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(base_dir=_base_dir(config_value, "history"), inst_data=inst_data)

    @contextmanager
    def connect(self) -> Iterator:
        if "_pooled_engine" not in self.__dict__:
            self.__dict__["_pooled_engine"] = pooled_engine(self._conn_string)
        with self.__dict__["_pooled_engine"].connect() as conn:
            with conn.begin():
                yield conn
