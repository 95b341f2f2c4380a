"""Assets called directly, the Dagster testing guide's middle layer: no run, no IO manager, a built context."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from lascopf_assets.defs.ingestion.assets import (
    LandingConfig,
    ValidationConfig,
    junction_aggregates,
    raw_measurements,
    validated_loads,
)
from lascopf_assets.defs.ingestion.topology import grid_topology
from lascopf_assets.defs.resources import ExportsFolder, FeederHeads, LandingZone
from lascopf_assets.defs.transmission.assets import PowerSystemsConfig, powersystems_system
from lascopf_assets.lib.powersystems import read_export
from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone

DAY = "2023-01-02"
HOURS = pd.date_range(DAY, periods=24, freq="h", tz="UTC").as_unit("us")


def _validated(n_meters: int = 3) -> pd.DataFrame:
    """Two junctions on phases A and B, ``n_meters`` meters each, one reading per meter and hour."""
    rows = []
    for junction, phase in (("J1", "A"), ("J2", "B")):
        for m in range(n_meters):
            for h, stamp in enumerate(HOURS):
                rows.append((stamp, f"{junction}-m{m}", "TR1", junction, phase, 0.5 + 0.1 * m + 0.01 * h))
    return pd.DataFrame(rows, columns=["timestamp", "meter_id", "feeder", "junction", "phase", "kwh"])


def test_junction_aggregates_sums_each_junction_hour_and_counts_meters():
    valid = _validated()
    out = junction_aggregates(valid)
    table = out.value
    assert list(table.columns) == ["timestamp", "feeder", "junction", "phase", "kwh", "meters"]
    assert len(table) == 2 * 24 and set(table["meters"]) == {3}
    j1_first = table[(table["junction"] == "J1") & (table["timestamp"] == HOURS[0])]["kwh"].item()
    assert j1_first == pytest.approx(0.5 + 0.6 + 0.7)
    assert out.metadata["kwh_total"].value == pytest.approx(valid["kwh"].sum())
    assert out.metadata["junctions"].value == 2 and out.metadata["rows"].value == 48


@pytest.fixture
def zone(tmp_path):
    data = tmp_path / "data"
    summary = write_demo_zone(data, DemoZoneParams(junctions=4, meters_per_junction=(3, 5), days=2, seed=3))
    return summary, LandingZone(landing_dir=str(data / "landing"), topology_dir=str(data / "topology"),
                                state_dir=str(data / "state"))


def test_grid_topology_finds_the_generators_junctions(zone):
    summary, landing = zone
    out = grid_topology(dg.build_asset_context(), landing, FeederHeads())
    table = out.value
    meters = table[table["type"] == "meter"]
    assert dict(zip(meters["grid_element_id"], meters["junction"], strict=True)) == summary.meter_junction
    assert out.metadata["junctions"].value == len(summary.junction_phase)


def test_raw_then_validated_loads_directly_with_their_checks(zone):
    summary, landing = zone
    topology = grid_topology(dg.build_asset_context(), landing, FeederHeads()).value
    raw_out, files_check = raw_measurements(dg.build_asset_context(partition_key=DAY), LandingConfig(), landing)
    raw = raw_out.value
    assert raw_out.metadata["rows_ingested"].value == len(raw) > 0
    assert files_check.passed and files_check.metadata["files_ingested"].value == 1
    assert set(raw["timestamp"].dt.strftime("%Y-%m-%d")) == {DAY}
    raw.loc[raw.index[:2], "kwh"] = -2.0  # two bad rows among the day's readings
    events = list(validated_loads(dg.build_asset_context(partition_key=DAY), ValidationConfig(), raw, topology))
    outputs = {e.output_name: e for e in events if isinstance(e, dg.Output)}
    checks = {e.check_name: e for e in events if isinstance(e, dg.AssetCheckResult)}
    assert len(outputs["validated_loads"].value) == len(raw) - 2
    assert list(outputs["quarantined_measurements"].value["rule"]) == ["kwh_negative", "kwh_negative"]
    # no SCADA voltage: that check has nothing to judge and is not evaluated (the metadata says why)
    assert set(checks) == {"rows_accounted_for", "quarantine_share_within_limit"}
    assert checks["rows_accounted_for"].passed and checks["quarantine_share_within_limit"].passed
    assert outputs["validated_loads"].metadata["checks_not_judged"].value == {"voltage_within_band": "no SCADA voltage in these readings"}
    strict = validated_loads(dg.build_asset_context(partition_key=DAY), ValidationConfig(max_quarantine_share=0.0), raw,
                             topology)
    [share] = [e for e in strict if isinstance(e, dg.AssetCheckResult) and e.check_name == "quarantine_share_within_limit"]
    assert not share.passed


def test_powersystems_system_exports_the_day_for_powersystems_jl(tmp_path):
    aggregates = junction_aggregates(_validated()).value
    context = dg.build_asset_context(partition_key=DAY)
    exports = ExportsFolder(path=str(tmp_path / "exports"))
    out = powersystems_system(context, PowerSystemsConfig(case="case14"), exports, aggregates)
    table = out.value
    assert list(table.columns) == ["timestamp", "bus", "load_mw"]
    assert set(table["timestamp"]) == set(HOURS)
    export = read_export(out.metadata["export_path"].value)
    assert np.array_equal(export.loads.matrix, table.pivot(index="bus", columns="timestamp", values="load_mw")
                          .reindex(index=export.loads.bus_ids).to_numpy())
    assert out.metadata["feeders_mapped"].value == 1 and out.metadata["buses"].value == 14  # both junctions are on TR1


def test_grid_topology_keeps_feeder_partitions_in_step_with_the_configured_heads(tmp_path):
    data = tmp_path / "data"
    write_demo_zone(data, DemoZoneParams(feeders=3, junctions=2, meters_per_junction=(2, 3), days=1, seed=4))
    landing = LandingZone(landing_dir=str(data / "landing"), topology_dir=str(data / "topology"), state_dir=str(data / "state"))
    instance = dg.DagsterInstance.ephemeral()
    out = grid_topology(dg.build_asset_context(instance=instance), landing, FeederHeads())
    assert sorted(instance.get_dynamic_partitions("feeders")) == ["TR1", "TR2", "TR3"]
    assert out.metadata["feeders"].value == 3 and out.metadata["junctions_outside_feeders"].value == 0
    meters = out.value[out.value["type"] == "meter"]
    assert set(meters["feeder"]) == {"TR1", "TR2", "TR3"}
    # only TR2 heads a feeder now: TR1 and TR3 leave the partitions, their junctions are said to be outside
    out = grid_topology(dg.build_asset_context(instance=instance), landing, FeederHeads(element_ids="TR2"))
    assert instance.get_dynamic_partitions("feeders") == ["TR2"]
    assert out.metadata["junctions_outside_feeders"].value == 4
    # a head that is not a backbone element fails the run with the reason and the folder
    with pytest.raises(dg.Failure, match=r"feeder head 'F2-J001' is not on a three-phase backbone .*topology folder"):
        grid_topology(dg.build_asset_context(instance=instance), landing, FeederHeads(element_ids="F2-J001"))
