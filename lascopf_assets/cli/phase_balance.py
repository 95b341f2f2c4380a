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
            "Loads.txt and LoadShapes.txt (IEEE European LV test feeder layout). With a feeder column, "
            "each feeder is its own problem with its own K (and its own --time-limit), and --json prints "
            '{"feeders": [...]}.'
        ),
    )
    parser.add_argument("loads", metavar="LOADS", help="load table (.csv/.parquet) or OpenDSS feeder folder")
    parser.add_argument("--max-changes", type=_max_changes, required=True, metavar="K",
                        help="at most K junctions change; 'all': every junction is free to move (the unlimited "
                             "setting, K = the feeder's junction count; it may end time-limited, with its gap)")
    parser.add_argument("--solver", choices=("scip", "highs"), default="scip", help="MILP solver (default scip)")
    parser.add_argument("--method", choices=("fast", "reference"), default="fast",
                        help="fast exact method (default) or the study's formulation in cvxpy")
    parser.add_argument("--time-limit", type=float, default=None, metavar="S",
                        help="seconds (per feeder); the best assignment found and its gap are returned when reached")
    parser.add_argument("--gap", type=float, default=1e-6, help="relative optimality gap tolerance (default 1e-6)")
    parser.add_argument("--groups", type=int, default=None, metavar="G",
                        help="interval groups of the fast method's master (default 4)")
    parser.add_argument("--curve", type=int, default=None, metavar="KMAX",
                        help="also compute the trade-off curve for K = 0..KMAX (fast method); --time-limit is "
                             "then one budget, K by K in increasing order, each K using what is left but half an "
                             "equal share kept back for every larger K")
    parser.add_argument("--resolution", choices=("hourly", "minute"), default="hourly",
                        help="interval length when LOADS is an OpenDSS feeder folder (default hourly)")
    parser.add_argument("--report", default=None, metavar="HTML",
                        help="write a self-contained HTML report here (per feeder: HTML's name + _<feeder>)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_solver_option_argument(parser, "SCIP parameter or HiGHS")
    parser.epilog = ("Exit status: 0 when every solve is optimal or stopped at the time limit (with its gap), "
                     "1 when a solver failed (status error, its words in reason), 2 for bad input.")
    parser.set_defaults(func=run)


def _max_changes(text: str):
    from lascopf_assets.lib.phase_balance.result import parse_max_changes

    try:
        return parse_max_changes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _load_problems(args):
    """``(problems, by_feeder)``: one problem under the key None, or one per feeder of a feeder column."""
    from lascopf_assets.lib.phase_balance.feeders import FEEDER_COLUMN, problems_by_feeder
    from lascopf_assets.lib.phase_balance.lv_feeder import FeederFileError, feeder_load_table
    from lascopf_assets.lib.phase_balance.problem import LoadTableError, problem_from_long_table, read_load_frame

    path = Path(args.loads)
    try:
        if path.is_dir():
            if not (path / "Loads.txt").exists():
                raise CliError(f"{path}: a folder must hold an OpenDSS feeder (Loads.txt, LoadShapes.txt)")
            table = feeder_load_table(path, resolution=args.resolution)
            return {None: problem_from_long_table(table, source=str(path))}, False
        table, csv_lines = read_load_frame(path)
        if FEEDER_COLUMN in table.columns:
            return problems_by_feeder(table, source=str(path), csv_lines=csv_lines), True
        return {None: problem_from_long_table(table, source=str(path), csv_lines=csv_lines)}, False
    except (LoadTableError, FeederFileError) as exc:
        raise CliError(str(exc)) from None
    except ValueError as exc:
        raise CliError(f"{path}: {exc}") from None
    except OSError as exc:
        raise CliError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _check_args(args: argparse.Namespace) -> None:
    if isinstance(args.max_changes, int) and args.max_changes < 0:  # else "all" (parse_max_changes)
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


def _solver(args: argparse.Namespace, options: dict[str, str]):
    """``solve(problem) -> (result, curve)`` for one problem, with its own time budget."""
    from lascopf_assets.lib.phase_balance.exact import ExactPhaseBalancer, solve_with_curve
    from lascopf_assets.lib.phase_balance.reference import solve_reference
    from lascopf_assets.lib.phase_balance.result import resolve_max_changes

    def solve(problem):
        began = time.perf_counter()
        max_changes = resolve_max_changes(args.max_changes, problem)
        try:
            if args.method == "reference":
                return solve_reference(problem, max_changes, args.solver, args.time_limit, "study", args.gap,
                                       solver_options=options), None
            balancer = ExactPhaseBalancer(problem, args.solver, args.groups, solver_options=options)
            remaining = None if args.time_limit is None else max(0.0, args.time_limit - (time.perf_counter() - began))
            return solve_with_curve(balancer, max_changes, args.curve, remaining, args.gap)
        except ValueError as exc:
            raise CliError(str(exc)) from None

    return solve


def _report_path(report: str, feeder: str | None) -> Path:
    path = Path(report)
    return path if feeder is None else path.with_name(f"{path.stem}_{feeder}{path.suffix or '.html'}")


def _write_reports(args, balances) -> list[str]:
    from lascopf_assets.lib.phase_balance.report import write_report

    written = []
    for b in balances:
        path = _report_path(args.report, b.feeder)
        title = "Phase balancing report" if b.feeder is None else f"Phase balancing, feeder {b.feeder}"
        try:
            write_report(path, b.problem, b.result, b.curve, title)
        except OSError as exc:
            raise CliError(f"cannot write report {path}: {exc.strerror or exc}") from None
        written.append(str(path))
    return written


def run(args: argparse.Namespace) -> int:
    _check_args(args)
    from lascopf_assets.lib.phase_balance.feeders import balance_feeders, balances_frame, curve_rows, feeder_ranking
    from lascopf_assets.lib.solver_status import ERROR

    options = solver_options(args.solver_option)
    problems, by_feeder = _load_problems(args)
    balances = balance_feeders(problems, _solver(args, options))
    failed = any(r.status == ERROR for b in balances for r in [b.result, *(b.curve or [])])
    reports = _write_reports(args, balances) if args.report else []
    if by_feeder:
        if args.json:
            out = {"feeders": [b.to_dict() for b in balances]}
            for entry, report in zip(out["feeders"], reports):
                entry["report"] = report
            print(json.dumps(out))
            return 1 if failed else 0
        _print_feeders(args, balances, feeder_ranking(balances_frame(balances)), reports)
        return 1 if failed else 0
    (single,) = balances
    problem, result, curve = single.problem, single.result, single.curve
    if args.json:
        out = result.to_dict()
        out["junctions"] = problem.n_junctions
        out["intervals"] = problem.n_hours
        if curve is not None:
            out["curve"] = curve_rows(curve)
        if reports:
            out["report"] = reports[0]
        print(json.dumps(out))
        return 1 if failed else 0
    print(f"{problem.n_junctions} junctions x {problem.n_hours} intervals, K = {args.max_changes}, "
          f"{result.method} method with {result.solver}")
    _print_result(result, curve)
    for report in reports:
        print(f"report: {report}")
    return 1 if failed else 0


def _print_result(result, curve, indent: str = "") -> None:
    from lascopf_assets.lib.phase_balance.result import neighbourhood_text
    from lascopf_assets.lib.solver_status import ERROR

    print(f"{indent}status {result.status}: imbalance {result.initial_imbalance:.6g} -> {result.imbalance:.6g} "
          f"(bound {result.bound:.6g}, gap {result.gap:.2e}) in {result.solve_seconds:.2f} s")
    if result.reason:
        print(f"{indent}  {result.solver}: {result.reason}")
    if result.neighbourhood_search:
        print(f"{indent}neighbourhood search: {neighbourhood_text(result.neighbourhood_search)}")
    if result.skipped_hours:
        print(f"{indent}skipped {len(result.skipped_hours)} interval(s) with zero total load")
    for c in result.changes:
        print(f"{indent}  {c.junction}: {c.from_phase} -> {c.to_phase}")
    if not result.changes:
        print(f"{indent}  no change")
    if curve is not None:
        print(f"{indent}trade-off curve:")
        for r in curve:
            print(f"{indent}  K={r.max_changes:3d}  imbalance {r.imbalance:.6g}  bound {r.bound:.6g}  gap {r.gap:.1e}  "
                  f"{len(r.changes)} change(s)  {r.solve_seconds:.1f} s  {r.status}"
                  + (f" ({r.reason})" if r.status == ERROR else ""))


def _print_feeders(args, balances, ranking, reports) -> None:
    print(f"{len(balances)} feeders, K = {args.max_changes} each, {args.method} method with {args.solver}")
    for b in balances:
        print(f"feeder {b.feeder}: {b.problem.n_junctions} junctions x {b.problem.n_hours} intervals")
        _print_result(b.result, b.curve, indent="  ")
    print("ranking (imbalance removed per phase change):")
    print(f"  {'rank':>4}  {'feeder':<16} {'status':<10} {'changes':>7} {'before':>12} {'after':>12} {'per change':>12}")
    for row in ranking.itertuples(index=False):
        per = "-" if row.changes == 0 else f"{row.removed_per_change:,.2f}"
        print(f"  {row.rank:>4}  {row.feeder:<16} {row.status:<10} {row.changes:>7} "
              f"{row.initial_imbalance:>12,.2f} {row.imbalance:>12,.2f} {per:>12}")
    for report in reports:
        print(f"report: {report}")
