"""Phase balancing: per feeder, a window of junction_aggregates -> phase_assignment; the zone's feeder_ranking.

Thin wrapper over ``lascopf_assets.lib.phase_balance``. ``phase_assignment`` is partitioned by
feeder (the ``feeders`` dynamic partitions, kept in step with the grid by ``grid_topology``): each
feeder is its own problem with its own K, so a move never crosses a feeder, and feeders run in
parallel as separate runs (on the multiprocess run launcher, or on Celery workers). A partition
reads only its feeder's rows of every day of ``junction_aggregates`` that exists (the IO
manager's ``rows_of_partition``), keeps the last ``window_days`` days, solves for K and the
trade-off curve K = 0..Kmax with one solver object (cuts and incumbents reused), writes the HTML
report and returns the changes. ``feeder_ranking`` ranks every feeder's latest result by
imbalance removed per phase change: what a crew planner reads.
"""


from dataclasses import dataclass

import dagster as dg
import pandas as pd

from lascopf_assets.defs.metadata import markdown_table
from lascopf_assets.defs.partitions import feeder_partitions
from lascopf_assets.defs.resources import ExportsFolder
from lascopf_assets.defs.storage.contract import ALLOW_MISSING_PARTITIONS, ROWS_OF_PARTITION
from lascopf_assets.lib.phase_balance.exact import SOLVERS, ExactPhaseBalancer, solve_with_curve
from lascopf_assets.lib.phase_balance.feeders import feeder_ranking as rank_feeders
from lascopf_assets.lib.phase_balance.problem import LoadTableError, problem_from_long_table
from lascopf_assets.lib.phase_balance.report import figure_tradeoff, report_file_name, write_report
from lascopf_assets.lib.phase_balance.result import UNLIMITED, resolve_max_changes
from lascopf_assets.lib.phase_balance.window import select_window
from lascopf_assets.lib.solver_status import ERROR, OPTIMAL, parse_options

PHASE_BALANCING_CODE_VERSION = "2"  # 2: one partition per feeder


class PhaseBalancingConfig(dg.Config):
    max_changes: int = 5
    """K: at most this many junctions change phase."""
    unlimited: bool = False
    """Every junction free to move (the study's unlimited setting; the CLI's ``--max-changes all``): K is the
    feeder's number of junctions and ``max_changes`` is not used."""
    curve_max_changes: int = 10
    """Kmax of the trade-off curve (K = 0..Kmax)."""
    solver: str = "scip"
    """``scip`` (single-tree branch and cut) or ``highs`` (iterative master)."""
    time_limit_seconds: float = 600.0
    """Wall-clock budget of one feeder's solve (K and the curve); the best assignment and its gap are kept."""
    window_days: int = 365
    """Days of data to balance over, ending at ``end_date``."""
    end_date: str | None = None
    """Last day (YYYY-MM-DD, UTC) of the window; default: the last day with data."""
    solver_options: dict[str, str] = {}
    """SCIP parameters or HiGHS options handed to the solver, e.g. ``{"limits/nodes": "100000"}``."""


def _k_text(result) -> str:
    return f"all {result.max_changes} junctions" if result.unlimited else str(result.max_changes)


def _summary_lines(result, feeder: str, first: str, last: str, solver: str) -> list[str]:
    """What `lascopf demo` prints: the outcome, then one line per recommended change."""
    lines = [
        f"phase balancing {feeder} {first} .. {last} (K = {_k_text(result)}, {solver}): {result.status}, "
        f"imbalance {result.initial_imbalance:,.2f} -> {result.imbalance:,.2f} "
        f"(bound {result.bound:,.2f}, gap {result.gap:.1e}, {result.solve_seconds:.1f} s)"
    ]
    if result.reason:
        lines.append(f"  {solver}: {result.reason}")
    lines += [f"  move {c.junction}: {c.from_phase} -> {c.to_phase}" for c in result.changes] or ["  no change"]
    return lines


def _curve_point(result) -> dict:
    """One trade-off curve point as plain JSON (its own changes, so it can be checked alone)."""
    d = result.to_dict()
    return {"k": d["max_changes"], **{key: d[key] for key in ("status", "reason", "imbalance", "bound", "gap", "changes",
                                                                "solve_seconds")}}


@dg.asset(
    group_name="phase_balancing",
    partitions_def=feeder_partitions,
    backfill_policy=dg.BackfillPolicy.multi_run(1),  # one run per feeder: feeders run in parallel
    kinds={"pandas", "scip", "highs"},
    ins={"junction_aggregates": dg.AssetIn(
        metadata={ALLOW_MISSING_PARTITIONS: True, ROWS_OF_PARTITION: "feeder"},
        partition_mapping=dg.AllPartitionMapping(),
    )},
    code_version=PHASE_BALANCING_CODE_VERSION,
    description=(
        "Per feeder: recommended junction phase changes (at most K) minimizing the feeder's time-summed phase "
        "imbalance over a window of junction_aggregates, with imbalance before/after, proven bound and gap, and the "
        "K trade-off curve."
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
    feeder = context.partition_key
    try:
        if junction_aggregates.empty:
            raise ValueError(f"feeder {feeder} has no junction_aggregates rows (no junction of it has readings)")
        window, first, last = select_window(junction_aggregates, config.window_days, config.end_date)
        problem = problem_from_long_table(window[["junction", "phase", "timestamp", "kwh"]],
                                          source=f"junction_aggregates of feeder {feeder}", csv_lines=False)
    except (LoadTableError, ValueError) as exc:
        raise dg.Failure(description=str(exc)) from exc

    try:
        balancer = ExactPhaseBalancer(problem, config.solver, solver_options=parse_options(config.solver_options))
    except ValueError as exc:
        raise dg.Failure(description=str(exc)) from exc
    max_changes = resolve_max_changes(UNLIMITED if config.unlimited else config.max_changes, problem)
    result, curve = solve_with_curve(balancer, max_changes, config.curve_max_changes,
                                     float(config.time_limit_seconds))

    # named by feeder and window (a rerun of the same window replaces it); latest.html beside it is the newest
    report = write_report(exports.folder("phase_balancing", feeder) / report_file_name(feeder, first, last),
                          problem, result, curve, title=f"Phase balancing, feeder {feeder}, {first} .. {last}",
                          latest=True)
    changes = result.changes_frame().astype({"junction": "string", "from_phase": "string", "to_phase": "string"})
    changes.insert(0, "feeder", pd.Series([feeder] * len(changes), dtype="string"))
    curve_table = pd.DataFrame(
        [(r.max_changes, round(r.imbalance, 6), round(r.bound, 6), f"{r.gap:.1e}", r.status, r.reason or "")
         for r in curve],
        columns=["K", "imbalance", "bound", "gap", "status", "reason"],
    )
    for r in (r for r in [*curve, result] if r.status == ERROR):
        context.log.error(f"phase balancing {feeder} K = {r.max_changes}: {config.solver} failed: {r.reason}")
    context.log.info(
        f"phase balancing {feeder} {first}..{last}: {result.status}, imbalance {result.initial_imbalance:.6g} -> "
        f"{result.imbalance:.6g} (gap {result.gap:.1e}), {len(result.changes)} change(s)"
    )
    return dg.Output(
        changes,
        metadata={
            "feeder": feeder,
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
            "max_changes": dg.MetadataValue.int(result.max_changes),
            "unlimited": dg.MetadataValue.bool(bool(result.unlimited)),
            "neighbourhood_search": dg.MetadataValue.json(  # unlimited only; elsewhere no step ran
                result.neighbourhood_search or {"steps": 0, "proven": 0, "improved": 0}),
            # each point on its own: K, status, imbalance, bound, gap and its changes (phase_recommendations reads it)
            "tradeoff_points": dg.MetadataValue.json([_curve_point(r) for r in curve]),
            "recommended_point": dg.MetadataValue.json(_curve_point(result)),  # also when K is past the curve
            "curve_points": dg.MetadataValue.int(len(curve)),
            "curve_points_certified": dg.MetadataValue.int(sum(r.status == OPTIMAL for r in curve)),
            "tradeoff_curve": dg.MetadataValue.md(
                markdown_table(curve_table, limit=None) + f"\n\n![trade-off](data:image/png;base64,{figure_tradeoff(curve)})"
            ),
            "report_path": dg.MetadataValue.path(str(report)),
            "summary_lines": dg.MetadataValue.json(_summary_lines(result, feeder, first, last, config.solver)),
        },
    )


# what feeder_ranking reads of each feeder's latest phase_assignment (its materialization metadata)
_OUTCOME_FIELDS = {"status": "status", "junctions": "junctions", "changes": "n_changes",
                   "initial_imbalance": "imbalance_before", "imbalance": "imbalance_after", "gap": "gap"}


@dataclass(frozen=True)
class FeederMaterialization:
    """A feeder's latest phase_assignment materialization: when, by which run, and its metadata values."""

    timestamp: float
    run_id: str
    metadata: dict


def latest_feeder_materializations(instance: dg.DagsterInstance, feeders: list[str]) -> dict[str, FeederMaterialization]:
    """``feeder -> FeederMaterialization`` for each feeder that has a phase_assignment."""
    latest = {}
    for feeder in feeders:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=phase_assignment.key, asset_partitions=[feeder]), limit=1
        ).records  # newest first
        event = records[0].event_log_entry if records else None
        if event is None or event.asset_materialization is None:
            continue
        meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
        latest[feeder] = FeederMaterialization(records[0].timestamp, event.run_id, meta)
    return latest


def latest_feeder_outcomes(instance: dg.DagsterInstance, feeders: list[str]) -> pd.DataFrame:
    """One row per feeder with a phase_assignment: its latest materialization's outcome (and its run and window)."""
    rows = []
    for feeder, latest in latest_feeder_materializations(instance, feeders).items():
        meta = latest.metadata
        if not all(key in meta for key in _OUTCOME_FIELDS.values()):
            continue  # written before the outcome was recorded (an older code version)
        row = {"feeder": feeder, **{name: meta[key] for name, key in _OUTCOME_FIELDS.items()}}
        rows.append({**row, "window": meta.get("window", ""), "run_id": latest.run_id})
    return pd.DataFrame(rows, columns=["feeder", *_OUTCOME_FIELDS, "window", "run_id"])


@dg.asset(
    group_name="phase_balancing",
    kinds={"pandas"},
    deps=[phase_assignment],
    description=(
        "Every feeder's latest phase_assignment ranked by imbalance removed per phase change (the crew planner's list), "
        "with status, gap and the window each result balanced over."
    ),
)
def feeder_ranking(context: dg.AssetExecutionContext) -> dg.Output[pd.DataFrame]:
    feeders = sorted(context.instance.get_dynamic_partitions(feeder_partitions.name))
    outcomes = latest_feeder_outcomes(context.instance, feeders)
    missing = sorted(set(feeders) - set(outcomes["feeder"]))
    if outcomes.empty:
        raise dg.Failure(description=f"no feeder has a phase_assignment yet (feeders: {', '.join(feeders) or 'none'})")
    ranked = rank_feeders(outcomes.drop(columns=["window", "run_id"])).merge(
        outcomes[["feeder", "window", "run_id"]], on="feeder", how="left"
    )
    if missing:
        context.log.warning(f"{len(missing)} feeder(s) without a phase_assignment yet: {', '.join(missing)}")
    shown = ranked.drop(columns=["run_id", "window", "removed"]).assign(
        initial_imbalance=ranked["initial_imbalance"].round(2), imbalance=ranked["imbalance"].round(2),
        removed_per_change=ranked["removed_per_change"].round(2),
        gap=ranked["gap"].map(lambda g: f"{g:.1e}"),
    )
    return dg.Output(
        ranked,
        metadata={
            "ranking": dg.MetadataValue.md(markdown_table(shown, limit=None)),
            "feeders_ranked": dg.MetadataValue.int(len(ranked)),
            "feeders_without_result": dg.MetadataValue.json(missing),
            "changes_total": dg.MetadataValue.int(int(ranked["changes"].sum())),
            "imbalance_removed_total": dg.MetadataValue.float(float(ranked["removed"].sum())),
            "not_optimal": dg.MetadataValue.json(ranked.loc[ranked["status"] != "optimal", "feeder"].tolist()),
        },
    )


RECOMMENDATION_COLUMNS = {
    "feeder": "string", "k": "int64", "recommended": "bool", "status": "string", "initial_imbalance": "float64",
    "imbalance": "float64", "bound": "float64", "gap": "float64", "changes": "int64", "moves": "string",
    "window": "string", "run_id": "string", "computed_at": "datetime64[us, UTC]",
}


def recommendation_rows(feeder: str, latest: FeederMaterialization) -> list[dict]:
    """One row per trade-off curve point of a feeder's latest phase_assignment ([] if written without its points),
    and the recommended point's row after them when its K is past the curve (e.g. ``unlimited``)."""
    meta = latest.metadata
    points = meta.get("tradeoff_points")
    if points is None:
        return []
    recommended = meta.get("recommended_point")
    if recommended is not None and all(p["k"] != recommended["k"] for p in points):
        points = [*points, recommended]
    computed_at = pd.Timestamp(latest.timestamp, unit="s", tz="UTC")
    return [{
        "feeder": feeder, "k": p["k"], "recommended": p["k"] == meta.get("max_changes"), "status": p["status"],
        "initial_imbalance": meta["imbalance_before"], "imbalance": p["imbalance"], "bound": p["bound"], "gap": p["gap"],
        "changes": len(p["changes"]),
        "moves": "; ".join(f"{c['junction']}: {c['from_phase']} -> {c['to_phase']}" for c in p["changes"]),
        "window": meta.get("window", ""), "run_id": latest.run_id, "computed_at": computed_at,
    } for p in points]


@dg.asset(
    group_name="phase_balancing",
    kinds={"pandas"},
    deps=[phase_assignment],
    io_manager_key="timeseries_io_manager",  # a PostgreSQL table in production: the dashboards and the API read it
    description=(
        "Every feeder's latest trade-off curve, one row per K: status, imbalance, proven bound, gap and that point's "
        "moves; recommended marks the K phase_assignment was asked for."
    ),
)
def phase_recommendations(context: dg.AssetExecutionContext) -> dg.Output[pd.DataFrame]:
    feeders = sorted(context.instance.get_dynamic_partitions(feeder_partitions.name))
    latest = latest_feeder_materializations(context.instance, feeders)
    rows = [row for feeder, m in sorted(latest.items()) for row in recommendation_rows(feeder, m)]
    without = sorted(set(feeders) - {r["feeder"] for r in rows})
    if not rows:
        raise dg.Failure(description=f"no feeder has a phase_assignment with its trade-off curve yet (feeders: "
                                     f"{', '.join(feeders) or 'none'})")
    if without:
        context.log.warning(f"{len(without)} feeder(s) without a trade-off curve yet: {', '.join(without)}")
    frame = pd.DataFrame(rows, columns=list(RECOMMENDATION_COLUMNS)).astype(RECOMMENDATION_COLUMNS)
    certified = int((frame["status"] == OPTIMAL).sum())
    return dg.Output(frame, metadata={
        "feeders": dg.MetadataValue.int(frame["feeder"].nunique()),
        "points": dg.MetadataValue.int(len(frame)),
        "points_certified": dg.MetadataValue.int(certified),
        "feeders_without_curve": dg.MetadataValue.json(without),
    })
