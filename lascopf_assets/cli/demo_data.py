"""``lascopf demo-data``: write a deterministic demo distribution zone to a folder."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections import Counter

from lascopf_assets.cli import CliError
from lascopf_assets.lib.zone.params import INTERVAL_MINUTES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo-data",
        help="write a demo zone (daily meter reading files and grid topology)",
        description=(
            "Write OUT_DIR/landing/meter_readings_YYYY-MM-DD.{csv,parquet} (one per day) and "
            "OUT_DIR/topology/grid_topology.csv for a synthetic distribution zone of one or more "
            "feeders, each fed by its own source transformer."
        ),
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write into (created if absent)")
    parser.add_argument("--junctions", type=int, default=40, help="single-phase laterals per feeder (default 40)")
    parser.add_argument(
        "--feeders", type=int, default=None,
        help="feeders, each with its own source transformer (default 1, or the length of --feeder-junctions)",
    )
    parser.add_argument(
        "--feeder-junctions", default=None, metavar="N,N,...",
        help="junctions of each feeder, e.g. 16,12,8,4 (overrides --junctions)",
    )
    parser.add_argument(
        "--meters", type=int, default=None, help="total meters (default: 10-25 per junction)"
    )
    parser.add_argument("--days", type=int, default=365, help="number of days (default 365)")
    parser.add_argument("--start", default="2023-01-01", help="first day, YYYY-MM-DD (default 2023-01-01)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--format", dest="fmt", choices=("csv", "parquet"), default="csv")
    parser.add_argument(
        "--interval-minutes", type=int, default=60, choices=INTERVAL_MINUTES, metavar="N",
        help="minutes per meter reading, one of " + ", ".join(map(str, INTERVAL_MINUTES))
        + " (default 60: hourly; less splits each meter-hour into 60/N readings summing to its kWh)",
    )
    parser.set_defaults(func=run)


def _feeder_junctions(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise CliError(f"--feeder-junctions {text!r} is not a comma-separated list of junction counts like 16,12,8,4") from None


def _readings(interval_minutes: int) -> str:
    """What the summary calls the rows: plain readings when hourly (the line as it always was)."""
    return "readings" if interval_minutes == 60 else f"{interval_minutes}-minute readings"


def run(args: argparse.Namespace) -> int:
    from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone

    try:
        start = dt.date.fromisoformat(args.start)
    except ValueError:
        raise CliError(f"--start {args.start!r} is not a date like 2023-01-01") from None
    feeder_junctions = _feeder_junctions(args.feeder_junctions)
    if args.feeders is not None:
        feeders = args.feeders
    else:
        feeders = 1 if feeder_junctions is None else len(feeder_junctions)
    try:
        params = DemoZoneParams(
            junctions=args.junctions,
            total_meters=args.meters,
            days=args.days,
            start=start,
            seed=args.seed,
            feeders=feeders,
            feeder_junctions=feeder_junctions,
            interval_minutes=args.interval_minutes,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    began = time.perf_counter()
    try:
        summary = write_demo_zone(args.out_dir, params, fmt=args.fmt)
    except OSError as exc:
        raise CliError(f"cannot write to {args.out_dir}: {exc.strerror or exc}") from None
    seconds = time.perf_counter() - began
    last = start + dt.timedelta(days=params.days - 1)
    junctions_of = Counter(summary.junction_feeder.values())
    meters_of = Counter(summary.junction_feeder[j] for j in summary.meter_junction.values())
    feeder_lines = "".join(
        f"\n    {feeder}: {junctions_of[feeder]} junctions, {meters_of[feeder]} meters" for feeder in summary.feeders
    )
    print(
        f"demo zone written to {summary.out_dir} in {seconds:.1f} s\n"
        f"  {summary.junctions} junctions, {summary.meters} meters "
        f"({len(summary.replacements)} replacements), {summary.days} days {start} .. {last}\n"
        f"  {len(summary.feeders)} feeder{'s' if len(summary.feeders) > 1 else ''} "
        f"(named by source transformer):{feeder_lines}\n"
        f"  {summary.rows:,} {_readings(params.interval_minutes)} in {summary.files} {args.fmt} files "
        f"under {summary.out_dir / 'landing'}\n"
        f"  topology: {summary.topology_path}"
    )
    return 0
