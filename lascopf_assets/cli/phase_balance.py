"""``lascopf phase-balance``: pick at most K junctions to re-phase so the feeder's imbalance is minimal."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from lascopf_assets.cli import CliError, add_solver_option_argument, solver_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "phase-balance",
        help="minimize the time-summed phase imbalance with at most K junction phase changes",
        description=(
            "LOADS is a CSV or Parquet table with columns junction, phase, timestamp, kwh "
            "(phase = the junction's current phase A/B/C), or an OpenDSS feeder folder holding "
            "Loads.txt and LoadShapes.txt (IEEE European LV test feeder layout)."
        ),
    )
    parser.add_argument("loads", metavar="LOADS", help="load table (.csv/.parquet) or OpenDSS feeder folder")
    parser.add_argument("--max-changes", type=int, required=True, metavar="K", help="at most K junctions change")
    parser.add_argument("--solver", choices=("scip", "highs"), default="scip", help="MILP solver (default scip)")
    parser.add_argument("--method", choices=("fast", "reference"), default="fast",
                        help="fast exact method (default) or the study's formulation in cvxpy")
    parser.add_argument("--time-limit", type=float, default=None, metavar="S",
                        help="seconds; the best assignment found and its gap are returned when reached")
    parser.add_argument("--gap", type=float, default=1e-6, help="relative optimality gap tolerance (default 1e-6)")
    parser.add_argument("--groups", type=int, default=None, metavar="G",
                        help="hour groups of the fast method's master (default 12)")
    parser.add_argument("--curve", type=int, default=None, metavar="KMAX",
                        help="also compute the trade-off curve for K = 0..KMAX (fast method)")
    parser.add_argument("--resolution", choices=("hourly", "minute"), default="hourly",
                        help="interval length when LOADS is an OpenDSS feeder folder (default hourly)")
    parser.add_argument("--report", default=None, metavar="HTML", help="write a self-contained HTML report here")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_solver_option_argument(parser, "SCIP parameter or HiGHS")
    parser.epilog = ("Exit status: 0 when every solve is optimal or stopped at the time limit (with its gap), "
                     "1 when a solver failed (status error, its words in reason), 2 for bad input.")
    parser.set_defaults(func=run)


def _load_problem(args):
    from lascopf_assets.lib.phase_balance.lv_feeder import FeederFileError, feeder_load_table
    from lascopf_assets.lib.phase_balance.problem import LoadTableError, problem_from_long_table, read_load_table

    path = Path(args.loads)
    try:
        if path.is_dir():
            if not (path / "Loads.txt").exists():
                raise CliError(f"{path}: a folder must hold an OpenDSS feeder (Loads.txt, LoadShapes.txt)")
            table = feeder_load_table(path, resolution=args.resolution)
            return problem_from_long_table(table, source=str(path))
        return read_load_table(path)
    except (LoadTableError, FeederFileError) as exc:
        raise CliError(str(exc)) from None
    except ValueError as exc:
        raise CliError(f"{path}: {exc}") from None
    except OSError as exc:
        raise CliError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def run(args: argparse.Namespace) -> int:
    if args.max_changes < 0:
        raise CliError(f"--max-changes must be >= 0, got {args.max_changes}")
    if args.time_limit is not None and not (args.time_limit > 0 and math.isfinite(args.time_limit)):
        raise CliError(f"--time-limit must be a positive number of seconds, got {args.time_limit}")
    if args.curve is not None and args.curve < 0:
        raise CliError(f"--curve must be >= 0, got {args.curve}")
    if args.curve is not None and args.method != "fast":
        raise CliError("--curve is computed with --method fast")
    if args.groups is not None and args.groups < 1:
        raise CliError(f"--groups must be >= 1, got {args.groups}")
    if not (0 <= args.gap < 1):
        raise CliError(f"--gap must be in [0, 1), got {args.gap}")
    from lascopf_assets.lib.phase_balance.exact import ExactPhaseBalancer, solve_with_curve
    from lascopf_assets.lib.phase_balance.reference import solve_reference
    from lascopf_assets.lib.solver_status import ERROR

    options = solver_options(args.solver_option)
    problem = _load_problem(args)
    began = time.perf_counter()
    try:
        if args.method == "reference":
            result = solve_reference(problem, args.max_changes, args.solver, args.time_limit, "study", args.gap,
                                     solver_options=options)
            curve = None
        else:
            balancer = ExactPhaseBalancer(problem, args.solver, args.groups, solver_options=options)
            remaining = None if args.time_limit is None else max(0.0, args.time_limit - (time.perf_counter() - began))
            result, curve = solve_with_curve(balancer, args.max_changes, args.curve, remaining, args.gap)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    out = result.to_dict()
    out["junctions"] = problem.n_junctions
    out["intervals"] = problem.n_hours
    if curve is not None:
        out["curve"] = [
            {"max_changes": r.max_changes, "imbalance": r.imbalance, "bound": r.bound, "gap": r.gap,
             "status": r.status, "reason": r.reason, "changes": len(r.changes)}
            for r in curve
        ]
    failed = any(r.status == ERROR for r in [result, *(curve or [])])
    if args.report:
        from lascopf_assets.lib.phase_balance.report import write_report

        try:
            write_report(args.report, problem, result, curve)
        except OSError as exc:
            raise CliError(f"cannot write report {args.report}: {exc.strerror or exc}") from None
        out["report"] = str(args.report)
    if args.json:
        print(json.dumps(out))
        return 1 if failed else 0
    print(f"{problem.n_junctions} junctions x {problem.n_hours} intervals, K = {args.max_changes}, "
          f"{result.method} method with {result.solver}")
    print(f"status {result.status}: imbalance {result.initial_imbalance:.6g} -> {result.imbalance:.6g} "
          f"(bound {result.bound:.6g}, gap {result.gap:.2e}) in {result.solve_seconds:.2f} s")
    if result.reason:
        print(f"  {result.solver}: {result.reason}")
    if result.skipped_hours:
        print(f"skipped {len(result.skipped_hours)} interval(s) with zero total load")
    for c in result.changes:
        print(f"  {c.junction}: {c.from_phase} -> {c.to_phase}")
    if not result.changes:
        print("  no change")
    if curve is not None:
        print("trade-off curve:")
        for r in curve:
            print(f"  K={r.max_changes:3d}  imbalance {r.imbalance:.6g}  gap {r.gap:.1e}  {r.status}"
                  + (f" ({r.reason})" if r.status == ERROR else ""))
    if args.report:
        print(f"report: {args.report}")
    return 1 if failed else 0
