"""Phase balancing: a window of junction_aggregates -> phase_assignment (changes, curve, HTML report).

Thin wrapper over ``lascopf_assets.lib.phase_balance``: reads the daily
``junction_aggregates`` partitions that exist (an unpartitioned asset reading a
window of a partitioned one), keeps the last ``window_days`` days of data,
solves for K and the trade-off curve K = 0..Kmax with one solver object (cuts
and incumbents reused), writes the HTML report and returns the changes table.
"""


import dagster as dg
import pandas as pd

from lascopf_assets.defs.metadata import markdown_table
from lascopf_assets.defs.resources import ExportsFolder
from lascopf_assets.defs.storage.contract import ALLOW_MISSING_PARTITIONS
from lascopf_assets.lib.phase_balance.exact import SOLVERS, ExactPhaseBalancer, solve_with_curve
from lascopf_assets.lib.phase_balance.problem import LoadTableError, problem_from_long_table
from lascopf_assets.lib.phase_balance.report import figure_tradeoff, write_report
from lascopf_assets.lib.phase_balance.window import select_window
from lascopf_assets.lib.solver_status import ERROR, parse_options

PHASE_BALANCING_CODE_VERSION = "1"


class PhaseBalancingConfig(dg.Config):
    max_changes: int = 5
    """K: at most this many junctions change phase."""
    curve_max_changes: int = 10
    """Kmax of the trade-off curve (K = 0..Kmax)."""
    solver: str = "scip"
    """``scip`` (single-tree branch and cut) or ``highs`` (iterative master)."""
    time_limit_seconds: float = 600.0
    """Wall-clock budget for the whole solve (K and the curve); the best assignment and its gap are kept."""
    window_days: int = 365
    """Days of data to balance over, ending at ``end_date``."""
    end_date: str | None = None
    """Last day (YYYY-MM-DD, UTC) of the window; default: the last day with data."""
    solver_options: dict[str, str] = {}
    """SCIP parameters or HiGHS options handed to the solver, e.g. ``{"limits/nodes": "100000"}``."""


def _summary_lines(result, first: str, last: str, solver: str) -> list[str]:
    """What `lascopf demo` prints: the outcome, then one line per recommended change."""
    lines = [
        f"phase balancing {first} .. {last} (K = {result.max_changes}, {solver}): {result.status}, "
        f"imbalance {result.initial_imbalance:,.2f} -> {result.imbalance:,.2f} "
        f"(bound {result.bound:,.2f}, gap {result.gap:.1e}, {result.solve_seconds:.1f} s)"
    ]
    if result.reason:
        lines.append(f"  {solver}: {result.reason}")
    lines += [f"  move {c.junction}: {c.from_phase} -> {c.to_phase}" for c in result.changes] or ["  no change"]
    return lines


@dg.asset(
    group_name="phase_balancing",
    kinds={"pandas", "scip", "highs"},
    ins={"junction_aggregates": dg.AssetIn(metadata={ALLOW_MISSING_PARTITIONS: True})},
    code_version=PHASE_BALANCING_CODE_VERSION,
    description=(
        "Recommended junction phase changes (at most K) minimizing the time-summed phase imbalance over a window "
        "of junction_aggregates, with imbalance before/after, proven bound and gap, and the K trade-off curve."
    ),
)
def phase_assignment(
    context: dg.AssetExecutionContext, config: PhaseBalancingConfig, exports: ExportsFolder,
    junction_aggregates: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    if config.solver not in SOLVERS:
        raise dg.Failure(description=f"solver must be one of {', '.join(SOLVERS)}, got {config.solver!r}")
    if config.max_changes < 0 or config.curve_max_changes < 0:
        raise dg.Failure(description="max_changes and curve_max_changes must be >= 0")
    try:
        window, first, last = select_window(junction_aggregates, config.window_days, config.end_date)
        problem = problem_from_long_table(window[["junction", "phase", "timestamp", "kwh"]], source="junction_aggregates",
                                          csv_lines=False)
    except (LoadTableError, ValueError) as exc:
        raise dg.Failure(description=str(exc)) from exc

    try:
        balancer = ExactPhaseBalancer(problem, config.solver, solver_options=parse_options(config.solver_options))
    except ValueError as exc:
        raise dg.Failure(description=str(exc)) from exc
    result, curve = solve_with_curve(balancer, config.max_changes, config.curve_max_changes,
                                     float(config.time_limit_seconds))

    report = write_report(exports.folder("phase_balancing") / f"phase_assignment_{context.run.run_id}.html",
                          problem, result, curve, title=f"Phase balancing {first} .. {last}")
    changes = result.changes_frame().astype({"junction": "string", "from_phase": "string", "to_phase": "string"})
    curve_table = pd.DataFrame(
        [(r.max_changes, round(r.imbalance, 6), round(r.bound, 6), f"{r.gap:.1e}", r.status, r.reason or "")
         for r in curve],
        columns=["K", "imbalance", "bound", "gap", "status", "reason"],
    )
    for r in (r for r in [*curve, result] if r.status == ERROR):
        context.log.error(f"phase balancing K = {r.max_changes}: {config.solver} failed: {r.reason}")
    context.log.info(
        f"phase balancing {first}..{last}: {result.status}, imbalance {result.initial_imbalance:.6g} -> "
        f"{result.imbalance:.6g} (gap {result.gap:.1e}), {len(result.changes)} change(s)"
    )
    return dg.Output(
        changes,
        metadata={
            "changes": dg.MetadataValue.md(markdown_table(changes, limit=None, empty="_no change_")),
            "n_changes": dg.MetadataValue.int(len(changes)),
            "status": result.status,
            "reason": dg.MetadataValue.text(result.reason or ""),
            "imbalance_before": dg.MetadataValue.float(float(result.initial_imbalance)),
            "imbalance_after": dg.MetadataValue.float(float(result.imbalance)),
            "bound": dg.MetadataValue.float(float(result.bound)),
            "gap": dg.MetadataValue.float(float(result.gap)),
            "solver": config.solver,
            "solve_seconds": dg.MetadataValue.float(float(result.solve_seconds)),
            "junctions": dg.MetadataValue.int(problem.n_junctions),
            "hours": dg.MetadataValue.int(problem.n_hours),
            "window": f"{first} .. {last}",
            "skipped_hours": dg.MetadataValue.int(len(result.skipped_hours)),
            "tradeoff_curve": dg.MetadataValue.md(
                markdown_table(curve_table, limit=None) + f"\n\n![trade-off](data:image/png;base64,{figure_tradeoff(curve)})"
            ),
            "report_path": dg.MetadataValue.path(str(report)),
            "summary_lines": dg.MetadataValue.json(_summary_lines(result, first, last, config.solver)),
        },
    )
