"""phase_change_impact invoked directly: the tiny feeder's physics check, and a feeder without a model."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from lascopf_assets.defs.phase_balancing.impact import PhaseImpactConfig, phase_change_impact
from lascopf_assets.defs.resources import LandingZone
from lascopf_assets.lib.opendss.feeder_import import import_feeder


def _zone(tmp_path, out) -> LandingZone:
    return LandingZone(landing_dir=str(out / "landing"), topology_dir=str(out / "topology"), state_dir=str(tmp_path / "state"))


def _moves(rows):
    return pd.DataFrame(rows, columns=["feeder", "junction", "from_phase", "to_phase"])


def test_checks_the_recommended_moves(tiny_master, tmp_path):
    out = tmp_path / "zone"
    import_feeder(tiny_master, out)
    with dg.instance_for_test() as instance:
        context = dg.build_asset_context(partition_key="tx", instance=instance)
        result = phase_change_impact(context, PhaseImpactConfig(), _zone(tmp_path, out),
                                     _moves([("tx", "svc_load2", "A", "B")]))
    table = result.value
    assert table["scenario"].tolist() == ["before", "recommended"]
    before, after = table.iloc[0], table.iloc[1]
    assert before["converged_steps"] == before["steps"] == 4
    assert after["max_neutral_current_a"] < before["max_neutral_current_a"]
    assert after["losses_kwh"] < before["losses_kwh"]
    assert result.metadata["checked"] is True or result.metadata["checked"].value is True


def test_feeder_without_model_is_reported_not_failed(tmp_path):
    out = tmp_path / "zone"
    (out / "topology").mkdir(parents=True)
    with dg.instance_for_test() as instance:
        context = dg.build_asset_context(partition_key="f1", instance=instance)
        result = phase_change_impact(context, PhaseImpactConfig(), _zone(tmp_path, out), _moves([]))
    assert result.value.empty
    assert "no OpenDSS model" in str(result.metadata["reason"])
