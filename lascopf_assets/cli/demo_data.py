"""``lascopf demo-data``: write a deterministic demo distribution zone to a folder."""

from __future__ import annotations

import argparse
import datetime as dt
import time

from lascopf_assets.cli import CliError
from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo-data",
        help="write a demo zone (daily meter reading files and grid topology)",
        description=(
            "Write OUT_DIR/landing/meter_readings_YYYY-MM-DD.{csv,parquet} (one per day) and "
            "OUT_DIR/topology/grid_topology.csv for a synthetic distribution zone."
        ),
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write into (created if absent)")
    parser.add_argument("--junctions", type=int, default=40, help="single-phase laterals (default 40)")
    parser.add_argument(
        "--meters", type=int, default=None, help="total meters (default: 10-25 per junction)"
    )
    parser.add_argument("--days", type=int, default=365, help="number of days (default 365)")
    parser.add_argument("--start", default="2023-01-01", help="first day, YYYY-MM-DD (default 2023-01-01)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--format", dest="fmt", choices=("csv", "parquet"), default="csv")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        start = dt.date.fromisoformat(args.start)
    except ValueError:
        raise CliError(f"--start {args.start!r} is not a date like 2023-01-01") from None
    try:
        params = DemoZoneParams(
            junctions=args.junctions,
            total_meters=args.meters,
            days=args.days,
            start=start,
            seed=args.seed,
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
    print(
        f"demo zone written to {summary.out_dir} in {seconds:.1f} s\n"
        f"  {summary.junctions} junctions, {summary.meters} meters "
        f"({len(summary.replacements)} replacements), {summary.days} days {start} .. {last}\n"
        f"  {summary.rows:,} readings in {summary.files} {args.fmt} files under {summary.out_dir / 'landing'}\n"
        f"  topology: {summary.topology_path}"
    )
    return 0
