"""The transmission assets through dg.materialize on a tiny demo zone."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lascopf_assets.lib.lascopf import solve_lascopf
from lascopf_assets.lib.network import read_case
from lascopf_assets.lib.powersystems import RatingSpec, apply_ramp_fraction, apply_ratings, map_feeders_to_buses, read_export
from lascopf_assets.lib.zone.demo import DemoZoneParams
from lascopf_assets.storage.parquet_lake import ParquetLake
from lascopf_assets_tests.local_zone import ingested_demo_zone

DAY = "2023-01-02"
TRANSMISSION = ["powersystems_system", "lascopf_dispatch", "generator_dispatch", "branch_flows", "bus_lmps", "binding_contingencies",
                "corrective_dispatch", "trajectory_flows"]


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    data = tmp_path_factory.mktemp("transmission") / "data"
    with ingested_demo_zone(data, DemoZoneParams(junctions=4, meters_per_junction=(3, 5), days=2), [DAY]) as zone:
        yield zone.data, zone.run


def meta(result, asset):
    [event] = [e for e in result.get_asset_materialization_events() if e.materialization.asset_key.to_user_string() == asset]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def dispatch_with(run, **config) -> dict:
    """Materialize the transmission assets for DAY with this dispatch config; the dispatch metadata."""
    result = run(TRANSMISSION, partition_key=DAY, run_config={"ops": {"lascopf_dispatch": {"config": config}}})
    assert result.success  # a non-optimal day is recorded, not raised
    return meta(result, "lascopf_dispatch")


def test_dispatch_of_a_demo_day(zone):
    data, run = zone
    result = run(TRANSMISSION, partition_key=DAY)
    assert result.success
    lake = ParquetLake.local(data / "lake")
    system_meta, dispatch_meta = meta(result, "powersystems_system"), meta(result, "lascopf_dispatch")
    assert dispatch_meta["status"] == "optimal"
    assert dispatch_meta["summary_lines"][0].startswith(f"dispatch {DAY}: optimal, objective ")
    assert system_meta["feeders_mapped"] == 1  # one feeder: the one source transformer

    # the same inputs solved directly give the same objective
    net = read_case("case14")
    loads = map_feeders_to_buses(net, lake.read(["junction_aggregates"], DAY), DAY)
    net = apply_ramp_fraction(net, 0.2)
    net, _ = apply_ratings(net, loads.matrix, RatingSpec("uniform", uniform_mw=100.0))
    direct = solve_lascopf(net, loads.frame(), contingencies="all")
    assert direct.status == "optimal"
    assert dispatch_meta["objective"] == pytest.approx(direct.objective, rel=1e-9)
    assert dispatch_meta["iterations"] == direct.iterations

    # the lake's bus loads are the export's, and the export is in the day's folder
    export = read_export(system_meta["export_path"])
    stored = lake.read(["powersystems_system"], DAY)
    assert list(stored.columns) == ["timestamp", "bus", "load_mw"]
    assert np.array_equal(stored["load_mw"].to_numpy(), loads.table()["load_mw"].to_numpy())
    assert np.array_equal(export.loads.matrix, loads.matrix)

    hours = pd.date_range(DAY, periods=24, freq="h", tz="UTC")
    summary = lake.read(["lascopf_dispatch"], DAY)
    assert len(summary) == 1 and summary["status"].item() == "optimal"
    assert summary["timestamp"].item() == hours[0] and summary["objective"].item() == pytest.approx(direct.objective, rel=1e-9)
    for asset, rows in (("generator_dispatch", 5 * 24), ("branch_flows", 20 * 24), ("bus_lmps", 14 * 24)):
        table = lake.read([asset], DAY)
        assert len(table) == rows, asset
        assert set(table["timestamp"]) == set(hours), asset
    dispatch = lake.read(["generator_dispatch"], DAY)
    assert np.allclose(dispatch["p_mw"], direct.generator_dispatch["p_mw"], atol=1e-5)
    binding = lake.read(["binding_contingencies"], DAY)
    assert len(binding) == len(direct.binding_contingencies) > 0
    for asset in ("corrective_dispatch", "trajectory_flows"):  # preventive: no trajectories, typed empty tables
        table = lake.read([asset], DAY)
        assert table.empty and list(table.columns)[:2] == ["timestamp", "outaged_branch"], asset
    html = Path(dispatch_meta["report_path"]).read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 3 and "Binding contingencies" in html


def test_an_infeasible_day_is_recorded_with_its_cause(zone):
    data, run = zone
    dispatch_meta = dispatch_with(run, rating_mw=20.0)
    assert dispatch_meta["status"] == "infeasible"
    assert dispatch_meta["cause"] == "base-case flow limits cannot be met (with the generation and ramp limits)"
    assert dispatch_meta["summary_lines"][0] == f"dispatch {DAY}: infeasible, {dispatch_meta['cause']}"
    assert dispatch_meta["summary_lines"][1] == "  solver: Clarabel status 'PrimalInfeasible'"
    lake = ParquetLake.local(data / "lake")
    summary = lake.read(["lascopf_dispatch"], DAY)
    assert summary["status"].item() == "infeasible" and summary["cause"].item() == dispatch_meta["cause"]
    for asset in ("generator_dispatch", "branch_flows", "bus_lmps", "binding_contingencies", "corrective_dispatch",
                  "trajectory_flows"):
        table = lake.read([asset], DAY)
        assert table.empty and "timestamp" in table.columns, asset
    assert "status infeasible" in Path(dispatch_meta["report_path"]).read_text(encoding="utf-8")


def test_a_solver_failure_is_recorded_as_error_with_the_solvers_words(zone):
    data, run = zone
    dispatch_meta = dispatch_with(run, solver_options={"max_iter": "1"})
    said = "Clarabel status 'MaxIterations' (cvxpy status 'user_limit')"
    assert dispatch_meta["status"] == "error" and dispatch_meta["reason"] == said
    assert dispatch_meta["summary_lines"][0] == f"dispatch {DAY}: error, {said}"
    summary = ParquetLake.local(data / "lake").read(["lascopf_dispatch"], DAY)
    assert summary["status"].item() == "error" and summary["reason"].item() == said


def test_screening_iteration_limit_is_an_error_not_a_silent_stop(zone):
    _, run = zone
    dispatch_meta = dispatch_with(run, max_iterations=1)
    assert dispatch_meta["status"] == "error"
    assert dispatch_meta["reason"].startswith("screening stopped at its iteration limit (1) with ")


def test_corrective_security_from_config(zone):
    data, run = zone
    preventive = dispatch_with(run, rating_mw=40.0)
    corrective = dispatch_with(run, rating_mw=40.0, security="corrective", restore_intervals=2)
    assert preventive["status"] == corrective["status"] == "optimal"
    assert preventive["security"] == "preventive" and "restore_intervals" not in preventive
    assert corrective["security"] == "corrective" and corrective["restore_intervals"] == 2
    assert corrective["objective"] < preventive["objective"] * (1 - 1e-6)  # 40 MW ratings bind the N-1 limits
    assert corrective["corrected_outage_intervals"] > 0 and corrective["corrective_mw_total"] > 0
    assert corrective["max_emergency_loading"] <= 1 + 1e-6
    assert corrective["summary_lines"][2].startswith("  security corrective (2 x 15 min restoration")

    # the same inputs solved directly (the asset's defaults: uniform ratings, ramps of 0.2 Pmax per hour)
    lake = ParquetLake.local(data / "lake")
    net = read_case("case14")
    loads = map_feeders_to_buses(net, lake.read(["junction_aggregates"], DAY), DAY)
    net = apply_ramp_fraction(net, 0.2)
    net, _ = apply_ratings(net, loads.matrix, RatingSpec("uniform", uniform_mw=40.0))
    direct = solve_lascopf(net, loads.frame(), contingencies="all", security="corrective", restore_intervals=2)
    assert corrective["objective"] == pytest.approx(direct.objective, rel=1e-9)
    assert corrective["corrected_outage_intervals"] == len(direct.corrective_dispatch[["outaged_branch", "interval"]].drop_duplicates())
    # the trajectories and their flows are tables of the day, each row at its interval's start
    for name in ("corrective_dispatch", "trajectory_flows"):
        stored, solved = lake.read([name], DAY), getattr(direct, name)
        assert len(stored) == len(solved) > 0, name
        assert (stored["timestamp"] == loads.timestamps[stored["interval"].to_numpy() - 1]).all(), name
        numbers = [c for c in solved.columns if c not in ("outaged_branch", "outage_kind", "monitored_branch", "gen")]
        np.testing.assert_allclose(stored[numbers].to_numpy(float), solved[numbers].to_numpy(float), rtol=1e-6, atol=1e-6)


def test_corrective_without_restore_intervals_fails_the_run_saying_so(zone):
    _, run = zone
    result = run(TRANSMISSION, partition_key=DAY, raise_on_error=False,
                 run_config={"ops": {"lascopf_dispatch": {"config": {"security": "corrective"}}}})
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "corrective security needs restore_intervals" in str(failure.event_specific_data.error)


def test_generator_contingencies_from_config(zone):
    """``generator_contingencies: all`` loses each of case14's units in turn (the others pick up its output by Pmax):
    the same objective as the direct solve, never cheaper than branch outages alone, counted in the metadata."""
    data, run = zone
    branches = dispatch_with(run)
    both = dispatch_with(run, generator_contingencies="all")
    assert branches["status"] == both["status"] == "optimal"
    assert branches["generator_outages_modeled"] == 0 and both["generator_outages_modeled"] > 0
    assert both["objective"] >= branches["objective"] * (1 - 1e-9)
    assert f"and {both['generator_outages_modeled']} generator outages modeled" in both["summary_lines"][1]
    lake = ParquetLake.local(data / "lake")
    net = read_case("case14")
    loads = map_feeders_to_buses(net, lake.read(["junction_aggregates"], DAY), DAY)
    net = apply_ramp_fraction(net, 0.2)
    net, _ = apply_ratings(net, loads.matrix, RatingSpec("uniform", uniform_mw=100.0))
    direct = solve_lascopf(net, loads.frame(), contingencies="all", generator_contingencies="all")
    assert both["objective"] == pytest.approx(direct.objective, rel=1e-9)
    assert both["generator_outages_modeled"] == len(direct.generator_contingencies_modeled)
