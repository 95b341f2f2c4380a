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

The fence. Both classes replace one private connection method of their Dagster base class
(``SqliteEventLogStorage._connect(shard)``, ``SqliteRunStorage.connect()``) and read private
attributes. :func:`private_surface_problems` lists what of that surface is missing; building a
storage refuses to run on a Dagster whose surface changed, with a message saying what to do, and
``test_local_instance.py`` fails on the same check after an upgrade. ``LASCOPF_SQLITE_STORAGE=stock``
makes both classes hand back Dagster's own storages (slower, no private code involved).
"""

from __future__ import annotations

import inspect
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool

STORAGE_SWITCH_ENV = "LASCOPF_SQLITE_STORAGE"  # "pooled" (default) or "stock"
SYNCHRONOUS = "NORMAL"
ENGINES_KEPT = 8  # database files with an open engine at once: the index shard and recent runs


def private_surface_problems() -> list[str]:
    """What of the private Dagster surface these classes rely on is missing (empty: all there)."""
    problems = []
    for cls, method, params in ((SqliteEventLogStorage, "_connect", ["self", "shard"]),
                                (SqliteRunStorage, "connect", ["self"])):
        fn = getattr(cls, method, None)
        if fn is None or list(inspect.signature(fn).parameters) != params:
            problems.append(f"{cls.__name__}.{method}({', '.join(params[1:])}) is gone or changed")
    for cls, names in ((SqliteEventLogStorage, ["conn_string_for_shard", "_initdb"]), (SqliteRunStorage, ["from_local"])):
        problems += [f"{cls.__name__}.{name} is gone" for name in names if not hasattr(cls, name)]
    init_event_log = inspect.getsource(SqliteEventLogStorage.__init__)
    problems += [f"SqliteEventLogStorage no longer sets self.{a}" for a in ("_db_lock", "_initialized_dbs")
                 if f"self.{a}" not in init_event_log]
    if "self._conn_string" not in inspect.getsource(SqliteRunStorage.__init__):
        problems.append("SqliteRunStorage no longer sets self._conn_string")
    return problems


def use_stock_storage() -> bool:
    """True when ``LASCOPF_SQLITE_STORAGE=stock``; otherwise the pooled storages, if Dagster still allows them."""
    choice = os.environ.get(STORAGE_SWITCH_ENV, "pooled").strip().lower()
    if choice not in ("pooled", "stock"):
        raise ValueError(f"{STORAGE_SWITCH_ENV}={choice!r}: expected 'pooled' or 'stock'")
    if choice == "stock":
        return True
    problems = private_surface_problems()
    if problems:
        raise RuntimeError(
            f"dagster {dg.__version__} changed the private SQLite storage surface that "
            f"lascopf_assets/instance/sqlite_storage.py replaces ({'; '.join(problems)}). Set "
            f"{STORAGE_SWITCH_ENV}=stock to run on Dagster's own storages, and adapt the module to the new surface."
        )
    return False


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
        base_dir = _base_dir(config_value, "history", "runs")
        if use_stock_storage():
            return SqliteEventLogStorage(base_dir=base_dir, inst_data=inst_data)
        return cls(base_dir=base_dir, inst_data=inst_data)

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
            with engine.connect() as conn, conn.begin():
                yield conn


class PooledSqliteRunStorage(SqliteRunStorage):
    """``SqliteRunStorage`` with pooled ``synchronous=NORMAL`` connections (see module doc)."""

    @classmethod
    def config_type(cls):
        return _optional_base_dir()

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        base_dir = _base_dir(config_value, "history")
        if use_stock_storage():
            return SqliteRunStorage.from_local(base_dir=base_dir, inst_data=inst_data)
        return cls.from_local(base_dir=base_dir, inst_data=inst_data)

    @contextmanager
    def connect(self) -> Iterator:
        if "_pooled_engine" not in self.__dict__:
            self.__dict__["_pooled_engine"] = pooled_engine(self._conn_string)
        with self.__dict__["_pooled_engine"].connect() as conn, conn.begin():
            yield conn
