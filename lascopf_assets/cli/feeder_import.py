"""``lascopf feeder-import``: an OpenDSS feeder as a topology file and landing files the platform ingests."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from lascopf_assets.cli import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "feeder-import",
        help="import an OpenDSS feeder (Master.dss) as OUT_DIR/topology/ and OUT_DIR/landing/",
        description=(
            "Compile MASTER.dss with the OpenDSS engine (dss-python) and write OUT_DIR/topology/grid_topology.csv "
            "(lines, transformers, a meter per load, a service element per single-phase load on a three-phase bus), "
            "OUT_DIR/landing/meter_readings_YYYY-MM-DD.csv (kWh per interval from the load shapes, at their "
            "resolution) and OUT_DIR/feeder_import.json (what was found and what was left out). "
            "LASCOPF_DATA_DIR=OUT_DIR then runs the platform on the feeder."
        ),
    )
    parser.add_argument("master", metavar="MASTER.dss", help="the feeder's master file (its redirects are followed)")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write topology/ and landing/ into")
    parser.add_argument("--start", default="2023-01-01", metavar="YYYY-MM-DD",
                        help="the UTC day the load shapes start on (default 2023-01-01, the first day of the daily partitions)")
    parser.add_argument("--shape", default=None, metavar="SHAPE.dss",
                        help="a file defining one load shape, given to every load without one "
                             "(IEEE 123: Loadshapes/LoadShape1.DSS, as its Run_YearlySim.dss does)")
    parser.add_argument("--json", action="store_true", help="print the import summary as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lascopf_assets.lib.opendss.engine import CircuitError
    from lascopf_assets.lib.opendss.feeder_import import import_feeder
    from lascopf_assets.lib.zone.topology import TopologyError

    try:
        start = dt.date.fromisoformat(args.start)
    except ValueError:
        raise CliError(f"--start must be YYYY-MM-DD, got {args.start!r}") from None
    try:
        result = import_feeder(args.master, args.out_dir, start, args.shape)
    except (CircuitError, TopologyError, ValueError) as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot write {args.out_dir}: {exc.strerror or exc}") from None
    s = result.summary
    if args.json:
        print(json.dumps(s))
        return 0
    print(f"circuit {s['circuit']}: feeder {s['feeder']}, {s['elements']} topology elements, {s['junctions']} junctions "
          f"{s['junctions_by_phase']}, {s['meters_with_readings']} meters with readings")
    print(f"  {s['intervals']} intervals of {s['interval_minutes']:g} min from {s['start']}, peak {s['peak_kw']:.1f} kW "
          f"(interval {s['peak_interval']}), kWh by phase {', '.join(f'{k} {v:.1f}' for k, v in s['kwh_by_phase'].items())}")
    left = s["loads_without_readings"] + s["line_to_line_loads"]
    if left:
        print(f"  loads without readings (three-phase or line-to-line, not under a single-phase junction): {len(left)}")
    print(f"  topology: {result.topology_path}")
    print(f"  landing: {len(result.landing_files)} file(s), {result.readings} readings under {result.out_dir / 'landing'}")
    return 0
