"""phase_change_impact: per feeder, the OpenDSS physics check of phase_assignment's moves and of its trade-off curve.

Thin wrapper over ``lascopf_assets.lib.opendss.powerflow.impact_curve``. A feeder's OpenDSS model is
the one ``lascopf feeder-import`` registered beside the topology files (``opendss_models.json``);
a feeder without one (the synthetic demo zone) is reported in the metadata, not failed. The circuit
runs once as it is, once with the recommended moves, and once per point of the trade-off curve
(K = 0..Kmax, each with its own moves, from phase_assignment's ``tradeoff_points`` metadata): VUF,
neutral current and losses against K. An imported feeder's ids carry the prefix it was imported
with (``lv-`` in the demo); the moves go to the engine without it.

The check lands in phase_assignment's report (its ``report_path``; ``latest.html`` too when it is
that report): before/after and against-K plots with the table, or, for a feeder without a model,
a line saying why it was not checked.
"""

from pathlib import Path

import dagster as dg
import pandas as pd

from lascopf_assets.defs.metadata import markdown_table
from lascopf_assets.defs.partitions import feeder_partitions
from lascopf_assets.defs.phase_balancing.assets import latest_feeder_materializations
from lascopf_assets.defs.resources import LandingZone
from lascopf_assets.lib.opendss.feeder_import import feeder_models, model_changes
from lascopf_assets.lib.opendss.powerflow import IMPACT_KEYS, impact_curve
from lascopf_assets.lib.phase_balance.report import add_section, figure_impact_vs_k, impact_section, unchecked_section

IMPACT_COLUMNS = ["feeder", "scenario", "k", "changes", *IMPACT_KEYS]


class PhaseImpactConfig(dg.Config):
    resolution: str | None = None
    """``minute`` or ``hourly`` (default: the load shapes' own)."""
    steps: int | None = None
    """Only the first N steps (default: the shapes' horizon)."""
    curve: bool = True
    """Also check every point of the trade-off curve."""


@dg.asset(
    group_name="phase_balancing",
    partitions_def=feeder_partitions,
    backfill_policy=dg.BackfillPolicy.multi_run(1),
    kinds={"pandas", "opendss"},
    code_version="2",  # 2: the check in the phase-balancing report, prefixed imports
    description=(
        "Per feeder with an OpenDSS model: time-series unbalanced power flow before and after phase_assignment's moves "
        "and for each K of its trade-off curve (VUF, neutral current, losses, minimum voltage, converged steps)."
    ),
)
def phase_change_impact(
    context: dg.AssetExecutionContext, config: PhaseImpactConfig, zone: LandingZone, phase_assignment: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    feeder = context.partition_key
    model = feeder_models(zone.topology_dir).get(feeder)
    latest = latest_feeder_materializations(context.instance, [feeder]).get(feeder)
    report = Path(str(latest.metadata["report_path"])) if latest and latest.metadata.get("report_path") else None
    if model is None:
        reason = f"no OpenDSS model for feeder {feeder} (lascopf feeder-import registers one)"
        context.log.info(f"feeder {feeder} has no OpenDSS model (none registered in {zone.topology_dir}); nothing to check")
        if report is not None:
            add_section(report, unchecked_section(reason))
        return dg.Output(pd.DataFrame(columns=IMPACT_COLUMNS), metadata={
            "feeder": feeder, "checked": False, "reason": dg.MetadataValue.text(reason),
        })
    sets = {"recommended": phase_assignment[["junction", "from_phase", "to_phase"]].to_dict("records")}
    if config.curve and latest is not None:
        for point in latest.metadata.get("tradeoff_points") or []:
            sets[f"k={point['k']}"] = point["changes"]
    prefix = model.get("prefix") or ""
    try:
        engine_sets = {name: model_changes(changes, prefix) for name, changes in sets.items()}
        result = impact_curve(model["master"], engine_sets, config.resolution, config.steps, model.get("shape"))
    except ValueError as exc:  # CircuitError, TopologyError: a stale move or a model the engine refuses
        raise dg.Failure(description=f"feeder {feeder}: {exc}") from exc
    rows = [{"feeder": feeder, "scenario": "before", "k": 0, "changes": 0, **{k: result["before"].get(k) for k in IMPACT_KEYS}}]
    for name, r in result["after"].items():
        k = len(sets[name]) if name == "recommended" else int(name[2:])
        rows.append({"feeder": feeder, "scenario": "recommended" if name == "recommended" else "curve", "k": k,
                     "changes": len(sets[name]), **{key: r.get(key) for key in IMPACT_KEYS}})
    table = pd.DataFrame(rows, columns=IMPACT_COLUMNS)
    before, after = result["before"], result["after"]["recommended"]
    runs = {id(r): r for r in [before, *result["after"].values()]}.values()  # a set of moves solved once is counted once
    not_converged = int(sum(r["steps"] - r["converged_steps"] for r in runs))
    if not_converged:
        context.log.warning(f"feeder {feeder}: {not_converged} step(s) did not converge (figures over converged steps)")
    steps = int(before["steps"])
    about = (f"{steps:,} steps of {before['interval_minutes']:g} min of the OpenDSS model {model['master']}, before and after "
             f"the recommended {len(sets['recommended'])} change(s) and for each K of the trade-off curve "
             f"({result['runs']} distinct time series); figures over converged steps "
             f"({not_converged} step(s) did not converge).")
    in_report = report is not None and add_section(report, impact_section(table, about))
    metadata = {
        "feeder": feeder, "checked": True, "master": model["master"],
        "steps": dg.MetadataValue.int(steps),
        "interval_minutes": dg.MetadataValue.float(float(before["interval_minutes"])),
        "time_series_solved": dg.MetadataValue.int(int(result["runs"])),
        "steps_not_converged": dg.MetadataValue.int(not_converged),
        **{f"{key}_before": dg.MetadataValue.float(float(before[key])) for key in IMPACT_KEYS[:5] if before.get(key) is not None},
        **{f"{key}_after": dg.MetadataValue.float(float(after[key])) for key in IMPACT_KEYS[:5] if after.get(key) is not None},
        "impact": dg.MetadataValue.md(markdown_table(table.round(4), limit=None)),
        "summary_lines": dg.MetadataValue.json(_summary_lines(feeder, before, after, len(sets["recommended"]))),
    }
    if in_report:
        metadata["report_path"] = dg.MetadataValue.path(str(report))
    if (table["scenario"] == "curve").sum() > 1:
        metadata["impact_vs_k"] = dg.MetadataValue.md(f"![impact vs K](data:image/png;base64,{figure_impact_vs_k(table)})")
    return dg.Output(table, metadata=metadata)


def _figure(value, digits: str) -> str:
    return "n/a" if value is None else format(value, digits)


def _summary_lines(feeder: str, before: dict, after: dict, changes: int) -> list[str]:
    """What `lascopf demo` prints: the recommendation's physics before -> after."""
    steps = f"{before['steps']:,} x {before['interval_minutes']:g} min"
    converged = "" if before["converged_steps"] == before["steps"] and after["converged_steps"] == after["steps"] else (
        f", converged {before['converged_steps']} / {after['converged_steps']} of {before['steps']} steps")
    return [
        f"physics check {feeder} (OpenDSS, {steps}, {changes} change(s){converged}): "
        f"max VUF {_figure(before['max_vuf_pct'], '.3f')} -> {_figure(after['max_vuf_pct'], '.3f')} %, "
        f"p95 VUF {_figure(before['p95_vuf_pct'], '.3f')} -> {_figure(after['p95_vuf_pct'], '.3f')} %, "
        f"neutral {_figure(before['max_neutral_current_a'], '.1f')} -> {_figure(after['max_neutral_current_a'], '.1f')} A, "
        f"losses {_figure(before['losses_kwh'], '.2f')} -> {_figure(after['losses_kwh'], '.2f')} kWh",
    ]
