"""Backfill benchmark: a 2,000-meter zone for a year through raw -> validated -> aggregates.

Runs, in one process, on the local profile (SQLite instance, Parquet lake in a
temp folder):
  1. the whole year as ONE single-run backfill over the partition range;
  2. the same pipeline as one run per day partition, for a month;
and prints seconds, rows/s, peak RSS and the per-day cost ratio.
Target (issue "Foundation"): the year in <= 30 s on 2 cores.

    python benchmarks/backfill.py [--meters 2000] [--days 365] [--month-days 31]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=2000)
    parser.add_argument("--junctions", type=int, default=40)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--month-days", type=int, default=31)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="lascopf-bench-backfill-"))
    os.environ.update(LASCOPF_PROFILE="local", LASCOPF_DATA_DIR=str(work / "data"))
    for name in ("LASCOPF_LANDING_DIR", "LASCOPF_TOPOLOGY_DIR", "LASCOPF_STATE_DIR", "LASCOPF_LAKE_DIR"):
        os.environ.pop(name, None)

    import dagster as dg

    from lascopf_assets.definitions import defs
    from lascopf_assets.defs.ingestion import assets as ingestion
    from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone

    started = time.perf_counter()
    summary = write_demo_zone(
        work / "data",
        DemoZoneParams(junctions=args.junctions, total_meters=args.meters, days=args.days, start=dt.date(2023, 1, 1)),
    )
    gen_s = time.perf_counter() - started
    print(f"zone: {summary.meters} meters, {summary.junctions} junctions, {summary.rows:,} rows in {summary.files} files "
          f"(generated in {gen_s:.1f} s) under {work}")

    definitions = defs()
    assets = [ingestion.grid_topology, ingestion.raw_measurements, ingestion.validated_loads, ingestion.junction_aggregates]
    daily = ["raw_measurements", "validated_loads", "quarantined_measurements", "junction_aggregates"]
    # the local profile's instance: the project's dagster.yaml in a fresh DAGSTER_HOME
    home = work / "dagster_home"
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    instance = dg.DagsterInstance.get()
    print(f"instance: {type(instance.event_log_storage).__name__} under {home}")
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

    def materialize(selection, **kwargs):
        result = dg.materialize(
            assets, selection=selection, resources=definitions.resources, instance=instance, run_config=quiet, **kwargs
        )
        assert result.success
        return result

    materialize(["grid_topology"])
    first = "2023-01-01"
    last = (dt.date(2023, 1, 1) + dt.timedelta(days=args.days - 1)).isoformat()

    started = time.perf_counter()
    materialize(daily, tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last})
    year_s = time.perf_counter() - started
    year_rss = peak_rss_mb()
    print(f"\nsingle-run backfill, {args.days} days: {year_s:.1f} s, {summary.rows / year_s:,.0f} rows/s, peak RSS {year_rss:,.0f} MB")

    month_days = min(args.month_days, args.days)
    started = time.perf_counter()
    for i in range(month_days):
        day = (dt.date(2023, 1, 1) + dt.timedelta(days=i)).isoformat()
        materialize(daily, partition_key=day)
    month_s = time.perf_counter() - started
    per_day_runs = month_s / month_days
    per_day_single = year_s / args.days
    print(f"per-partition runs, {month_days} days: {month_s:.1f} s ({per_day_runs:.2f} s/day)")
    print(f"per-day cost ratio (per-partition runs / single-run backfill): {per_day_runs / per_day_single:.1f}x")
    print(f"year as per-partition runs (extrapolated): {per_day_runs * args.days:.0f} s vs {year_s:.1f} s single-run")
    target = "met" if year_s <= 30 else "NOT met"
    print(f"target: year <= 30 s -> {target} ({year_s:.1f} s); peak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
