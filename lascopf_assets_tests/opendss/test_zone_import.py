"""An OpenDSS feeder added to a zone that has feeders of its own (the demo's European LV feeder), and its physics
check landing in the phase-balancing report."""

from __future__ import annotations

import datetime as dt
import re

import dagster as dg
import pandas as pd
import pytest

from lascopf_assets.defs.phase_balancing.impact import PhaseImpactConfig, phase_change_impact
from lascopf_assets.defs.resources import LandingZone
from lascopf_assets.lib.ingest.landing import read_landing_table
from lascopf_assets.lib.opendss.engine import CircuitError
from lascopf_assets.lib.opendss.feeder_import import (
    add_to_zone,
    feeder_models,
    model_changes,
    remove_from_zone,
)
from lascopf_assets.lib.opendss.powerflow import impact_curve
from lascopf_assets.lib.phase_balance.report import LATEST_NAME
from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone
from lascopf_assets.lib.zone.topology import TopologyError
from lascopf_assets.lib.zone.versions import meters_in_force, versioned_topology
from lascopf_assets_tests.opendss.conftest import shared

DAY = dt.date(2023, 1, 1)


@pytest.fixture
def zone(tmp_path):
    out = tmp_path / "zone"
    write_demo_zone(out, DemoZoneParams(feeders=1, feeder_junctions=(2,), days=1, start=DAY, glitches=0))
    return out


def _feeders(zone_dir) -> dict[str, set[str]]:
    """feeder -> its junctions, as grid_topology reads the zone."""
    table = versioned_topology(sorted((zone_dir / "topology").glob("*.csv")), DAY.isoformat())
    meters = meters_in_force(table, table["valid_from"].max())
    return {f: set(g["junction"]) for f, g in meters.groupby("feeder")}


def test_a_circuit_becomes_one_more_feeder_of_the_zone(tiny_master, zone):
    topology = zone / "topology" / "grid_topology.csv"
    synthetic = topology.read_bytes()
    added = add_to_zone(tiny_master, zone, DAY, "t-")
    assert added.summary["feeder"] == "t-tx"
    feeders = _feeders(zone)
    assert feeders["t-tx"] == {"t-svc_load1", "t-svc_load2"}  # the circuit's own names, prefixed
    assert "TR1" in feeders and len(feeders["TR1"]) == 2  # the zone's feeder is untouched
    assert topology.read_bytes().startswith(synthetic)
    # readings beside the zone's own files, named so they cannot replace them
    assert [p.name for p in added.landing_files] == ["t-meter_readings_2023-01-01.csv"]
    assert (zone / "landing" / "meter_readings_2023-01-01.csv").is_file()
    table = read_landing_table(added.landing_files[0])
    assert set(table["meter_id"].to_pylist()) == {"t-load1", "t-load2"}
    assert feeder_models(zone / "topology")["t-tx"] == {"master": str(tiny_master.resolve()), "shape": None, "prefix": "t-"}


def test_adding_again_rewrites_nothing_and_removing_restores_the_zone(tiny_master, zone):
    topology = zone / "topology" / "grid_topology.csv"
    synthetic = topology.read_bytes()
    first = add_to_zone(tiny_master, zone, DAY, "t-")
    stamps = {p: p.stat().st_mtime_ns for p in [topology, *first.landing_files]}
    again = add_to_zone(tiny_master, zone, DAY, "t-")
    assert {p: p.stat().st_mtime_ns for p in [topology, *again.landing_files]} == stamps  # the sensors see nothing new
    assert remove_from_zone(zone, "t-tx")
    assert topology.read_bytes() == synthetic
    assert not list((zone / "landing").glob("t-*")) and "t-tx" not in feeder_models(zone / "topology")
    assert remove_from_zone(zone, "t-tx") is False


def test_a_prefix_that_collides_with_the_zone_is_refused(tiny_master, zone, tmp_path):
    topology = zone / "topology" / "grid_topology.csv"
    before = topology.read_bytes()
    with pytest.raises(ValueError, match="prefix"):
        add_to_zone(tiny_master, zone, DAY, "")
    # a zone whose own element uses a node the prefixed circuit would use: the feeders would be joined
    rows = pd.read_csv(topology, dtype=str, keep_default_na=False)
    rows.loc[len(rows)] = ["X1", "busbar", "ABC", "t-far", ""]
    rows.to_csv(topology, index=False, lineterminator="\n")
    joined = topology.read_bytes()
    with pytest.raises(TopologyError, match="connectivity node t-far"):
        add_to_zone(tiny_master, zone, DAY, "t-")
    assert topology.read_bytes() == joined != before
    with pytest.raises(TopologyError, match="no topology file"):
        add_to_zone(tiny_master, tmp_path / "empty", DAY, "t-")


def test_model_changes_take_the_prefix_off():
    moves = [{"junction": "lv-svc_load9", "from_phase": "A", "to_phase": "C"}]
    assert model_changes(moves, "lv-") == [{"junction": "svc_load9", "from_phase": "A", "to_phase": "C"}]
    assert model_changes(moves, "") == moves
    with pytest.raises(CircuitError, match="TR1-J1: not a junction of this circuit"):
        model_changes([{"junction": "TR1-J1", "from_phase": "A", "to_phase": "B"}], "lv-")


def _phase_assignment_event(instance, feeder: str, report, points) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key="phase_assignment", partition=feeder,
        metadata={"report_path": dg.MetadataValue.path(str(report)), "tradeoff_points": dg.MetadataValue.json(points)},
    ))


def test_the_check_of_an_added_feeder_lands_in_its_report(tiny_master, zone, tmp_path):
    add_to_zone(tiny_master, zone, DAY, "t-")
    folder = tmp_path / "exports" / "t-tx"
    folder.mkdir(parents=True)
    report = folder / "phase_balancing_t-tx_2023-01-01_2023-01-01.html"
    report.write_text("<html><body><h1>Phase balancing</h1></body></html>")
    (folder / LATEST_NAME).write_bytes(report.read_bytes())
    move = {"junction": "t-svc_load2", "from_phase": "A", "to_phase": "B"}
    points = [{"k": 0, "changes": []}, {"k": 1, "changes": [move]}]
    moves = pd.DataFrame([{"feeder": "t-tx", **move}])
    zone_resource = LandingZone(landing_dir=str(zone / "landing"), topology_dir=str(zone / "topology"),
                                state_dir=str(tmp_path / "state"))
    with dg.instance_for_test() as instance:
        _phase_assignment_event(instance, "t-tx", report, points)
        context = dg.build_asset_context(partition_key="t-tx", instance=instance)
        result = phase_change_impact(context, PhaseImpactConfig(), zone_resource, moves)
    table = result.value
    assert table["scenario"].tolist() == ["before", "recommended", "curve", "curve"]
    assert result.metadata["time_series_solved"].value == 2  # before (= K 0) and the one move (= K 1 = recommended)
    before, after = table.iloc[0], table.iloc[1]
    assert after["max_neutral_current_a"] < before["max_neutral_current_a"]  # 3 kW of 8 left phase A
    text = report.read_text()
    assert text.count("<!-- physics-check -->") == 1
    assert len(re.findall(r'src="data:image/png;base64,', text)) == 2  # before/after, and against K
    assert f"{before['losses_kwh']:.3f}" in text and f"{after['losses_kwh']:.3f}" in text
    assert (folder / LATEST_NAME).read_bytes() == report.read_bytes()  # latest was this report: refreshed
    assert str(result.metadata["report_path"].value) == str(report)
    line = result.metadata["summary_lines"].value[0]
    assert line.startswith("physics check t-tx (OpenDSS, 4 x 60 min, 1 change(s)): max VUF ")


def test_a_feeder_without_a_model_says_so_in_its_report(zone, tmp_path):
    report = tmp_path / "r.html"
    report.write_text("<html><body></body></html>")
    zone_resource = LandingZone(landing_dir=str(zone / "landing"), topology_dir=str(zone / "topology"),
                                state_dir=str(tmp_path / "state"))
    with dg.instance_for_test() as instance:
        _phase_assignment_event(instance, "TR1", report, [])
        result = phase_change_impact(dg.build_asset_context(partition_key="TR1", instance=instance),
                                     PhaseImpactConfig(), zone_resource, pd.DataFrame(columns=["feeder", "junction",
                                                                                                "from_phase", "to_phase"]))
    assert result.metadata["checked"].value is False
    assert "Not checked: no OpenDSS model for feeder TR1" in report.read_text()


def test_european_lv_added_to_a_zone_checks_the_platforms_moves(zone):
    """The demo's case: the LV circuit as feeder lv-tr1 of a synthetic zone; the platform's junction ids reach the engine."""
    master = shared("ieee_european_lv", "Master.dss")
    added = add_to_zone(master, zone, DAY, "lv-")
    assert added.summary["feeder"] == "lv-tr1" and added.summary["junctions"] == 55
    assert _feeders(zone)["lv-tr1"] == {f"lv-svc_load{i}" for i in range(1, 56)}
    moves = [{"junction": "lv-svc_load53", "from_phase": "B", "to_phase": "A"}]
    model = feeder_models(zone / "topology")["lv-tr1"]
    result = impact_curve(model["master"], {"recommended": model_changes(moves, model["prefix"])}, resolution="hourly")
    before, after = result["before"], result["after"]["recommended"]
    assert before["steps"] == after["converged_steps"] == 24
    assert after["load_kwh_by_phase"]["A"] > before["load_kwh_by_phase"]["A"]
    assert after["load_kwh_by_phase"]["B"] < before["load_kwh_by_phase"]["B"]
