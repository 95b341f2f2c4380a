"""phase_change_impact: per feeder, the OpenDSS physics check of phase_assignment's moves and of its trade-off curve.

Thin wrapper over ``lascopf_assets.lib.opendss.powerflow.impact_curve``. A feeder's OpenDSS model is
the one ``lascopf feeder-import`` registered beside the topology files (``opendss_models.json``);
a feeder without one (the synthetic demo zone) is reported in the metadata, not failed. The circuit
runs once as it is, once with the recommended moves, and once per point of the trade-off curve
(K = 0..Kmax, each with its own moves, from phase_assignment's ``tradeoff_points`` metadata): VUF,
neutral current and losses against K.
"""

import base64
import io

import dagster as dg
import pandas as pd

from lascopf_assets.defs.metadata import markdown_table
from lascopf_assets.defs.partitions import feeder_partitions
from lascopf_assets.defs.phase_balancing.assets import latest_feeder_materializations
from lascopf_assets.defs.resources import LandingZone
from lascopf_assets.lib.opendss.feeder_import import feeder_models
from lascopf_assets.lib.opendss.powerflow import IMPACT_KEYS, impact_curve

IMPACT_COLUMNS = ["feeder", "scenario", "k", "changes", *IMPACT_KEYS]


class PhaseImpactConfig(dg.Config):
    resolution: str | None = None
    """``minute`` or ``hourly`` (default: the load shapes' own)."""
    steps: int | None = None
    """Only the first N steps (default: the shapes' horizon)."""
    curve: bool = True
    """Also check every point of the trade-off curve."""


def _plot(rows: pd.DataFrame) -> str:
    """VUF, neutral current and losses against K (PNG, base64)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = rows[rows["scenario"] == "curve"].sort_values("k")
    fig, axes = plt.subplots(1, 3, figsize=(10, 3))
    for ax, key, label in zip(axes, ("max_vuf_pct", "max_neutral_current_a", "losses_kwh"),
                              ("max VUF %", "max neutral current A", "losses kWh")):
        ax.plot(curve["k"], curve[key], marker="o")
        ax.set_xlabel("K (phase changes)")
        ax.set_title(label, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


@dg.asset(
    group_name="phase_balancing",
    partitions_def=feeder_partitions,
    backfill_policy=dg.BackfillPolicy.multi_run(1),
    kinds={"pandas", "opendss"},
    code_version="1",
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
    if model is None:
        context.log.info(f"feeder {feeder} has no OpenDSS model (none registered in {zone.topology_dir}); nothing to check")
        return dg.Output(pd.DataFrame(columns=IMPACT_COLUMNS), metadata={
            "feeder": feeder, "checked": False,
            "reason": dg.MetadataValue.text(f"no OpenDSS model for feeder {feeder} (lascopf feeder-import registers one)"),
        })
    sets = {"recommended": phase_assignment[["junction", "from_phase", "to_phase"]].to_dict("records")}
    if config.curve:
        latest = latest_feeder_materializations(context.instance, [feeder]).get(feeder)
        for point in (latest.metadata.get("tradeoff_points") or []) if latest else []:
            sets[f"k={point['k']}"] = point["changes"]
    try:
        result = impact_curve(model["master"], sets, config.resolution, config.steps, model.get("shape"))
    except ValueError as exc:  # CircuitError, TopologyError: a stale move or a model the engine refuses
        raise dg.Failure(description=f"feeder {feeder}: {exc}") from exc
    rows = [{"feeder": feeder, "scenario": "before", "k": 0, "changes": 0, **{k: result["before"].get(k) for k in IMPACT_KEYS}}]
    for name, r in result["after"].items():
        k = len(sets[name]) if name == "recommended" else int(name[2:])
        rows.append({"feeder": feeder, "scenario": "recommended" if name == "recommended" else "curve", "k": k,
                     "changes": len(sets[name]), **{key: r.get(key) for key in IMPACT_KEYS}})
    table = pd.DataFrame(rows, columns=IMPACT_COLUMNS)
    before, after = result["before"], result["after"]["recommended"]
    not_converged = int(sum(r["steps"] - r["converged_steps"] for r in [before, *result["after"].values()]))
    if not_converged:
        context.log.warning(f"feeder {feeder}: {not_converged} step(s) did not converge (figures over converged steps)")
    metadata = {
        "feeder": feeder, "checked": True, "master": model["master"],
        "steps": dg.MetadataValue.int(int(before["steps"])),
        "steps_not_converged": dg.MetadataValue.int(not_converged),
        **{f"{key}_before": dg.MetadataValue.float(float(before[key])) for key in IMPACT_KEYS[:5] if before.get(key) is not None},
        **{f"{key}_after": dg.MetadataValue.float(float(after[key])) for key in IMPACT_KEYS[:5] if after.get(key) is not None},
        "impact": dg.MetadataValue.md(markdown_table(table.round(4), limit=None)),
        "summary_lines": dg.MetadataValue.json([
            f"physics check {feeder} ({before['steps']} steps): max VUF {before['max_vuf_pct']:.3f} -> {after['max_vuf_pct']:.3f} %, "
            f"neutral {before['max_neutral_current_a']:.1f} -> {after['max_neutral_current_a']:.1f} A, "
            f"losses {before['losses_kwh']:.2f} -> {after['losses_kwh']:.2f} kWh",
        ]),
    }
    if (table["scenario"] == "curve").sum() > 1:
        metadata["impact_vs_k"] = dg.MetadataValue.md(f"![impact vs K](data:image/png;base64,{_plot(table)})")
    return dg.Output(table, metadata=metadata)

