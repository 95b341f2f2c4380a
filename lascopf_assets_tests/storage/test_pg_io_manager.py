"""PostgresTableIOManager through dg.materialize, config from env vars, real PostgreSQL."""


import dagster as dg
import numpy as np
import pandas as pd
import pytest
from psycopg.conninfo import conninfo_to_dict

from lascopf_assets.defs.storage.contract import DAILY_TABLE, DailyFrames
from lascopf_assets.defs.storage.from_env import PG_ENV, postgres_io_manager_from_env
from lascopf_assets.defs.storage.table_io_manager import PostgresTableIOManager
from lascopf_assets.storage.pg_tables import PgTableStore

daily = dg.DailyPartitionsDefinition(start_date="2023-01-01", timezone="UTC")


def _day_frame(start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    hours = pd.date_range(start, end, freq="h", inclusive="left").as_unit("us")
    n = len(hours)
    return pd.DataFrame(
        {
            "timestamp": np.repeat(hours, 2),
            "meter_id": pd.array(["M1", "M2"] * n, dtype="str"),
            "kwh": np.arange(2 * n, dtype=float) + start.day,
        }
    )


@dg.asset(partitions_def=daily, backfill_policy=dg.BackfillPolicy.single_run(),
          metadata={"partition_time_column": "timestamp"})
def readings_pg(context: dg.AssetExecutionContext) -> pd.DataFrame:
    window = context.partition_time_window
    return _day_frame(pd.Timestamp(window.start), pd.Timestamp(window.end))


@dg.asset(partitions_def=daily, backfill_policy=dg.BackfillPolicy.single_run())
def daily_totals_pg(readings_pg: pd.DataFrame) -> pd.DataFrame:
    out = readings_pg.groupby("timestamp", as_index=False)["kwh"].sum()
    return out


@dg.asset(ins={"readings_pg": dg.AssetIn()})
def window_summary_pg(readings_pg: pd.DataFrame) -> pd.DataFrame:
    """Unpartitioned: reads every materialized day as one range input."""
    return pd.DataFrame({"rows": [len(readings_pg)], "kwh": [float(readings_pg["kwh"].sum())]})


@pytest.fixture
def pg_env(postgres_dsn, monkeypatch):
    parts = conninfo_to_dict(postgres_dsn)
    monkeypatch.setenv(PG_ENV["host"], parts.get("host", "127.0.0.1"))
    monkeypatch.setenv(PG_ENV["port"], str(parts.get("port", 5432)))
    monkeypatch.setenv(PG_ENV["user"], parts.get("user", "postgres"))
    monkeypatch.setenv(PG_ENV["password"], parts.get("password", ""))
    monkeypatch.setenv(PG_ENV["dbname"], parts["dbname"])
    return postgres_dsn


def test_partition_and_range_materializations_round_trip(pg_env, tmp_path):
    resources = {"io_manager": postgres_io_manager_from_env()}
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        one = dg.materialize([readings_pg, daily_totals_pg], partition_key="2023-01-02",
                             resources=resources, instance=instance)
        assert one.success
        # a single run over a three-day range (what a single-run backfill does)
        rng = dg.materialize(
            [readings_pg, daily_totals_pg], resources=resources, instance=instance,
            tags={"dagster/asset_partition_range_start": "2023-01-01",
                  "dagster/asset_partition_range_end": "2023-01-03"},
        )
        assert rng.success
        mats = rng.asset_materializations_for_node("readings_pg")
        assert mats[0].metadata["rows"].value == 3 * 48
        schema = mats[0].metadata["dagster/column_schema"].schema
        assert [(c.name, c.type) for c in schema.columns] == [
            ("timestamp", "timestamp with time zone"), ("meter_id", "text"), ("kwh", "double precision")]
        summary = dg.materialize([readings_pg, window_summary_pg], resources=resources, instance=instance,
                                 selection=[window_summary_pg])
        assert summary.success

    store = PgTableStore(pg_env)
    d0 = pd.Timestamp("2023-01-01", tz="UTC")
    raw = store.load_window("readings_pg", d0, d0 + pd.Timedelta(days=3))
    expected = _day_frame(d0, d0 + pd.Timedelta(days=3))  # what the range run produced
    pd.testing.assert_frame_equal(raw, expected)  # the range run replaced day 01-02, no duplicates
    totals = store.load_window("daily_totals_pg", d0, d0 + pd.Timedelta(days=3))
    assert len(totals) == 72 and totals["kwh"].iloc[0] == expected["kwh"].iloc[:2].sum()
    summary_table = store.load_all("window_summary_pg")
    assert summary_table["rows"].tolist() == [144]


def test_table_name_override_and_schema(pg_env):
    @dg.asset(metadata={"pg_table": "lascopf_results"})
    def solve_result() -> pd.DataFrame:
        return pd.DataFrame({"run_id": ["r1"], "status": ["optimal"], "objective": [12.5]})

    io = PostgresTableIOManager(**{k: v for k, v in conninfo_to_dict(pg_env).items() if k in ("host", "user", "dbname")},
                                port=int(conninfo_to_dict(pg_env).get("port", 5432)), db_schema="results")
    assert dg.materialize([solve_result], resources={"io_manager": io}).success
    out = PgTableStore(pg_env, schema="results").load_all("lascopf_results")
    assert out.to_dict("list") == {"run_id": ["r1"], "status": ["optimal"], "objective": [12.5]}


def test_rows_outside_the_partition_fail_the_run_with_a_clear_message(pg_env):
    @dg.asset(partitions_def=daily, metadata={"partition_time_column": "timestamp"})
    def wrong_day() -> pd.DataFrame:
        return _day_frame(pd.Timestamp("2023-01-05", tz="UTC"), pd.Timestamp("2023-01-06", tz="UTC"))

    result = dg.materialize([wrong_day], partition_key="2023-01-01",
                            resources={"io_manager": postgres_io_manager_from_env()}, raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "outside the window" in str(failure.message) + str(failure.cause)


def test_missing_env_var_is_a_clear_config_error(monkeypatch):
    for env in PG_ENV.values():
        monkeypatch.delenv(env, raising=False)

    @dg.asset
    def anything() -> pd.DataFrame:
        return pd.DataFrame({"x": [1]})

    with pytest.raises(dg.DagsterInvalidConfigError, match=PG_ENV["host"]):
        dg.materialize([anything], resources={"io_manager": postgres_io_manager_from_env()})


SEEN_INPUTS: list[str] = []
FAIL_ON_DAY: list[str] = []


@dg.asset(partitions_def=daily, backfill_policy=dg.BackfillPolicy.single_run(), dagster_type=DAILY_TABLE,
          metadata={"partition_time_column": "timestamp"})
def readings_days(context: dg.AssetExecutionContext):
    keys = list(context.partition_keys)

    def produce():
        for key in keys:
            if key in FAIL_ON_DAY:
                raise RuntimeError(f"day {key} cannot be made (injected)")
            window = daily.time_window_for_partition_key(key)
            yield key, _day_frame(pd.Timestamp(window.start), pd.Timestamp(window.end)).assign(kwh=lambda f: f["kwh"] + 0.5)

    frames = DailyFrames(keys, produce, lambda: {"days_made": len(keys)})
    return frames if len(keys) > 1 else frames.to_frame()


@dg.asset(partitions_def=daily, backfill_policy=dg.BackfillPolicy.single_run(), dagster_type=DAILY_TABLE,
          ins={"readings_days": dg.AssetIn(dagster_type=DAILY_TABLE, metadata={"columns": ["timestamp", "kwh"]})})
def totals_days(readings_days):
    SEEN_INPUTS.append(type(readings_days).__name__)

    def total(_key, frame):
        assert list(frame.columns) == ["timestamp", "kwh"]  # only the columns asked for
        return frame.groupby("timestamp", as_index=False)["kwh"].sum()

    if isinstance(readings_days, DailyFrames):
        return readings_days.map(total)
    return total(None, readings_days)


def test_a_streamed_range_is_written_one_transaction_per_day_and_read_back_lazily(pg_env, tmp_path):
    resources = {"io_manager": postgres_io_manager_from_env()}
    SEEN_INPUTS.clear()
    FAIL_ON_DAY.clear()
    tags = {"dagster/asset_partition_range_start": "2023-01-01", "dagster/asset_partition_range_end": "2023-01-03"}
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        assert dg.materialize([readings_days, totals_days], partition_key="2023-01-02", resources=resources, instance=instance).success
        rng = dg.materialize([readings_days, totals_days], resources=resources, instance=instance, tags=tags)
        assert rng.success
        meta = rng.asset_materializations_for_node("readings_days")[0].metadata
        assert meta["rows"].value == 3 * 48 and meta["days_made"].value == 3  # the stream's summary, after the last day
        assert SEEN_INPUTS == ["DataFrame", "DailyFrames"]  # one day: a frame; a range: read day by day

        store = PgTableStore(pg_env)
        d0 = pd.Timestamp("2023-01-01", tz="UTC")
        expected = pd.concat([_day_frame(d0 + pd.Timedelta(days=i), d0 + pd.Timedelta(days=i + 1)) for i in range(3)],
                             ignore_index=True).assign(kwh=lambda f: f["kwh"] + 0.5)
        pd.testing.assert_frame_equal(store.load_window("readings_days", d0, d0 + pd.Timedelta(days=3)), expected)
        totals = store.load_window("totals_days", d0, d0 + pd.Timedelta(days=3))
        assert len(totals) == 72 and totals["kwh"].iloc[0] == expected["kwh"].iloc[:2].sum()

        # day 2 cannot be made: day 1 is replaced (its own transaction), days 2 and 3 keep their rows
        FAIL_ON_DAY.append("2023-01-02")
        store.write_window("readings_days", expected.assign(kwh=-1.0), d0, d0 + pd.Timedelta(days=3))
        failed = dg.materialize([readings_days], resources=resources, instance=instance, tags=tags, raise_on_error=False)
        assert not failed.success
        after = store.load_window("readings_days", d0, d0 + pd.Timedelta(days=3))
        day = after["timestamp"].dt.day
        assert (after.loc[day == 1, "kwh"] > 0).all() and (after.loc[day > 1, "kwh"] == -1.0).all()
        assert len(after) == 3 * 48
        store.close()
