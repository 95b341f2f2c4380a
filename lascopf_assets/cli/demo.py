"""``lascopf demo``: generate the demo zone and materialize every asset on the local profile.

Order: unpartitioned roots (grid_topology), then every daily asset of the
ingestion group over the demo's whole range as one single-run backfill, then
the assets that read a window of days (phase_assignment), then the daily
transmission assets for one day. Prints a short summary and the report paths.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path

from lascopf_assets.cli import CliError

DEMO_DAYS = 365
DEMO_START = dt.date(2023, 1, 1)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="generate the demo zone and materialize every asset (local profile)")
    parser.add_argument("--days", type=int, default=DEMO_DAYS, help="days of demo data (default: calendar 2023)")
    parser.add_argument("--junctions", type=int, default=40)
    parser.add_argument("--glitches", type=int, default=12, help="bad lines appended to the landing files (each must be quarantined)")
    parser.add_argument("--dispatch-day", default=None, help="day for the transmission assets (default: the last demo day)")
    parser.add_argument("--phase-time-limit", type=float, default=60.0,
                        help="seconds for phase balancing, K and the trade-off curve together (default 60)")
    parser.set_defaults(func=run)


def _ensure_demo_zone(data_dir: Path, days: int, junctions: int, glitches: int) -> None:
    from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone

    marker = data_dir / "landing" / f"meter_readings_{DEMO_START.isoformat()}.csv"
    if marker.exists() and (data_dir / "topology").is_dir():
        print(f"demo zone already in {data_dir} (delete the folder to regenerate)")
        return
    started = time.perf_counter()
    summary = write_demo_zone(data_dir, DemoZoneParams(junctions=junctions, days=days, start=DEMO_START, glitches=glitches))
    print(
        f"generated demo zone: {summary.junctions} junctions, {summary.meters} meters, "
        f"{summary.rows:,} readings in {summary.files} daily files, {len(summary.glitches)} bad lines "
        f"({time.perf_counter() - started:.1f} s)"
    )


def _metadata(result, asset: str) -> dict:
    merged: dict = {}
    for event in result.get_asset_materialization_events():
        if event.materialization.asset_key.to_user_string() == asset:
            merged = {k: v.value for k, v in event.materialization.metadata.items()}
    return merged


def run(args: argparse.Namespace) -> int:
    if args.days < 1:
        raise CliError("--days must be at least 1")
    os.environ.setdefault("LASCOPF_PROFILE", "local")
    import dagster as dg

    from lascopf_assets.definitions import defs
    from lascopf_assets.defs.resources import local_data_dir

    if not os.environ.get("DAGSTER_HOME"):
        raise CliError("DAGSTER_HOME is not set: run `make demo`, which points it at .dagster_home/")
    data_dir = local_data_dir()
    _ensure_demo_zone(data_dir, args.days, args.junctions, args.glitches)

    definitions = defs()
    graph = definitions.resolve_asset_graph()
    instance = dg.DagsterInstance.get()
    assets = list(definitions.assets or [])
    first = DEMO_START.isoformat()
    last = (DEMO_START + dt.timedelta(days=args.days - 1)).isoformat()
    dispatch_day = args.dispatch_day or last

    def keys_in_group(group: str) -> list[str]:
        return sorted(
            k.to_user_string() for k in graph.get_all_asset_keys()
            if graph.get(k).group_name == group and graph.get(k).is_materializable
        )

    def materialize(selection: list[str], ops: dict | None = None, **kwargs):
        started = time.perf_counter()
        run_config = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}, "ops": ops or {}}
        result = dg.materialize(
            assets, selection=selection, resources=definitions.resources, instance=instance,
            run_config=run_config, **kwargs,
        )
        print(f"materialized {', '.join(selection)} in {time.perf_counter() - started:.1f} s")
        return result

    ingestion = keys_in_group("ingestion")
    roots = [k for k in ingestion if not graph.get(dg.AssetKey.from_user_string(k)).is_partitioned]
    daily = [k for k in ingestion if k not in roots]
    materialize(roots)
    data = materialize(daily, tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last})

    raw = _metadata(data, "raw_measurements")
    validated = _metadata(data, "validated_loads")
    aggregates = _metadata(data, "junction_aggregates")
    print("\nsummary")
    print(f"  days                {first} .. {last}")
    print(f"  rows ingested       {raw.get('rows_ingested', 0):,}")
    print(f"  rows valid          {validated.get('rows_valid', 0):,}")
    print(f"  rows quarantined    {validated.get('rows_quarantined', 0):,}  by rule: {validated.get('quarantined_by_rule', {})}")
    print(f"  junctions           {aggregates.get('junctions', 0)}")

    reports: list[str] = []
    phase_ops = {"phase_assignment": {"config": {"time_limit_seconds": args.phase_time_limit}}}
    for group, extra in (("phase_balancing", {"ops": phase_ops}), ("transmission", {"partition_key": dispatch_day})):
        selection = keys_in_group(group)
        if not selection:
            continue
        result = materialize(selection, **extra)
        for key in selection:
            meta = _metadata(result, key)
            for line in meta.get("summary_lines", []):
                print(f"  {line}")
            if meta.get("report_path"):
                reports.append(str(meta["report_path"]))
    for path in reports:
        print(f"report: {path}")
    if not reports:
        print(f"data lake: {data_dir / 'lake'}")
    return 0
