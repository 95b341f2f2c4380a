"""``lascopf phase-impact``: time-series unbalanced power flow of a feeder before and after recommended phase changes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lascopf_assets.cli import CliError

_KEYS = ("max_vuf_pct", "p95_vuf_pct", "max_neutral_current_a", "losses_kwh", "min_voltage_pu")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "phase-impact",
        help="physics check of phase changes: VUF, neutral current, losses, voltage before and after (OpenDSS)",
        description=(
            "Run MASTER.dss's time-series unbalanced power flow (the OpenDSS engine's yearly mode, one solve per "
            "interval of the load shapes) with the loads on their current phases and again with CHANGES applied, "
            "and report for each: max_vuf_pct (bus, step), p95_vuf_pct, max_neutral_current_a at the head "
            "transformer's low-voltage terminal, losses_kwh, min_voltage_pu (bus, step), converged_steps of steps. "
            "CHANGES.json is the changes list `lascopf phase-balance --json` prints (or that whole object); a "
            "junction is the topology's junction id or a load under it."
        ),
    )
    parser.add_argument("master", metavar="MASTER.dss", help="the feeder's master file")
    parser.add_argument("--changes", required=True, metavar="CHANGES.json", help="[{junction, from_phase, to_phase}, ...]")
    parser.add_argument("--resolution", choices=("minute", "hourly"), default=None,
                        help="step length (default: the load shapes' own; hourly on minute shapes uses hourly means)")
    parser.add_argument("--steps", type=int, default=None, metavar="N", help="only the first N steps")
    parser.add_argument("--shape", default=None, metavar="SHAPE.dss",
                        help="a file defining one load shape, given to every load without one (IEEE 123: Loadshapes/LoadShape1.DSS)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.epilog = "Exit status: 0 when every step of both runs converged, 1 when some did not, 2 for bad input."
    parser.set_defaults(func=run)


def read_changes(path: str) -> list[dict]:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise CliError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise CliError(f"{path}: not JSON ({exc})") from None
    if isinstance(data, dict) and "changes" in data:
        data = data["changes"]
    if not isinstance(data, list):
        raise CliError(f"{path}: expected a list of changes or an object with a changes list")
    return data


def run(args: argparse.Namespace) -> int:
    from lascopf_assets.lib.opendss.engine import CircuitError
    from lascopf_assets.lib.opendss.powerflow import phase_impact
    from lascopf_assets.lib.zone.topology import TopologyError

    if args.steps is not None and args.steps < 1:
        raise CliError(f"--steps must be >= 1, got {args.steps}")
    changes = read_changes(args.changes)
    try:
        result = phase_impact(args.master, changes, args.resolution, args.steps, args.shape)
    except (CircuitError, TopologyError, ValueError) as exc:
        raise CliError(str(exc)) from None
    failed = any(result[k]["converged_steps"] < result[k]["steps"] for k in ("before", "after"))
    if args.json:
        print(json.dumps(result))
        return 1 if failed else 0
    print(f"{result['steps']} steps of {result['interval_minutes']:g} min, {len(result['changes'])} change(s)")
    for key in _KEYS:
        b, a = result["before"][key], result["after"][key]
        print(f"  {key:<24} {b if b is None else f'{b:12.4f}'}  ->  {a if a is None else f'{a:12.4f}'}")
    for k in ("before", "after"):
        r = result[k]
        print(f"  {k}: converged {r['converged_steps']}/{r['steps']}, max VUF at bus {r.get('max_vuf_bus')} "
              f"step {r.get('max_vuf_step')}, min voltage at bus {r.get('min_voltage_bus')} step {r.get('min_voltage_step')}")
    return 1 if failed else 0
