"""phase_assignment (one partition per feeder) and feeder_ranking through dg.materialize on a small two-feeder
demo zone, checked against a direct solve of each feeder alone."""

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from lascopf_assets.definitions import defs
from lascopf_assets.lib.phase_balance.exact import solve_fast
from lascopf_assets.lib.phase_balance.metric import imbalance
from lascopf_assets.lib.phase_balance.problem import problem_from_long_table
from lascopf_assets.lib.phase_balance.window import select_window
from lascopf_assets.lib.zone.demo import DemoZoneParams
from lascopf_assets.storage.parquet_lake import ParquetLake
from lascopf_assets_tests.local_zone import ingested_demo_zone

DAYS = ["2023-01-01", "2023-01-02"]
FEEDERS = ["TR1", "TR2"]


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    data = tmp_path_factory.mktemp("phase_balancing") / "data"
    params = DemoZoneParams(feeders=2, feeder_junctions=(7, 5), meters_per_junction=(3, 5), days=2)
    with ingested_demo_zone(data, params, DAYS) as zone:
        yield zone


def assign(run, feeder="TR1", **config):
    """Materialize one feeder's phase_assignment with this config."""
    return run(["phase_assignment"], partition_key=feeder, run_config={"ops": {"phase_assignment": {"config": config}}},
               raise_on_error=False)


def _meta(result, asset="phase_assignment"):
    [event] = [e for e in result.get_asset_materialization_events()
               if e.materialization.asset_key.to_user_string() == asset]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _feeder_problem(data, feeder):
    lake = ParquetLake.local(data / "lake")
    aggregates = pd.concat([lake.read(["junction_aggregates"], day) for day in DAYS])
    own = aggregates[aggregates["feeder"] == feeder]
    return problem_from_long_table(own[["junction", "phase", "timestamp", "kwh"]])


def test_grid_topology_keeps_the_feeder_partitions_in_step(zone):
    assert sorted(zone.instance.get_dynamic_partitions("feeders")) == FEEDERS


@pytest.mark.parametrize("feeder", FEEDERS)
def test_phase_assignment_of_a_feeder_matches_a_direct_solve_of_that_feeder_alone(zone, feeder):
    result = assign(zone.run, feeder, max_changes=2, curve_max_changes=3, time_limit_seconds=60)
    assert result.success
    meta = _meta(result)
    problem = _feeder_problem(zone.data, feeder)
    direct = solve_fast(problem, 2)
    assert meta["feeder"] == feeder
    assert meta["status"] == "optimal" and direct.status == "optimal"
    assert meta["hours"] == 48 and meta["junctions"] == problem.n_junctions == {"TR1": 7, "TR2": 5}[feeder]
    assert meta["imbalance_before"] == pytest.approx(imbalance(problem.loads, problem.initial_phase), rel=1e-9)
    assert meta["imbalance_after"] == pytest.approx(direct.imbalance, rel=1e-6)
    assert meta["bound"] <= meta["imbalance_after"] and meta["gap"] <= 1e-6

    changes = result.output_for_node("phase_assignment")
    assert list(changes.columns) == ["feeder", "junction", "from_phase", "to_phase"] and len(changes) <= 2
    assert set(changes["feeder"]) <= {feeder}
    x = problem.initial_phase.copy()
    index = {name: j for j, name in enumerate(problem.junctions)}
    for row in changes.itertuples():
        assert row.junction in index  # no move crosses a feeder
        assert f"| {row.feeder} | {row.junction} | {row.from_phase} | {row.to_phase} |" in meta["changes"]
        x[index[row.junction]] = "ABC".index(row.to_phase)
    assert imbalance(problem.loads, x) == pytest.approx(meta["imbalance_after"], rel=1e-9)
    assert meta["tradeoff_curve"].count("\n| ") == 4  # K = 0..3
    report = Path(meta["report_path"])
    assert report.exists() and report.parent.name == feeder and report.read_text().count("data:image/png;base64,") == 4
    assert report.name == f"phase_balancing_{feeder}_{DAYS[0]}_{DAYS[1]}.html"  # by feeder and window, no run id
    assert (report.parent / "latest.html").read_bytes() == report.read_bytes()


def test_feeder_ranking_ranks_each_feeders_latest_result(zone):
    outcomes = {}
    for feeder in FEEDERS:
        result = assign(zone.run, feeder, max_changes=1, curve_max_changes=1, time_limit_seconds=60)
        assert result.success
        outcomes[feeder] = _meta(result)
    result = zone.run(["feeder_ranking"])
    assert result.success
    ranked = result.output_for_node("feeder_ranking")
    assert sorted(ranked["feeder"]) == FEEDERS
    for row in ranked.itertuples():
        meta = outcomes[row.feeder]
        assert row.initial_imbalance == pytest.approx(meta["imbalance_before"])
        assert row.imbalance == pytest.approx(meta["imbalance_after"])
        assert row.changes == meta["n_changes"]
    per_change = ranked["removed_per_change"].fillna(-1).to_numpy()
    assert np.all(per_change[:-1] >= per_change[1:])  # best first
    assert _meta(result, "feeder_ranking")["feeders_without_result"] == []


def test_phase_recommendations_holds_every_curve_point_each_checkable_on_its_own(zone):
    for feeder in FEEDERS:
        assert assign(zone.run, feeder, max_changes=2, curve_max_changes=3, time_limit_seconds=60).success
    result = zone.run(["phase_recommendations"])
    assert result.success
    table = result.output_for_node("phase_recommendations")
    assert sorted(set(table["feeder"])) == FEEDERS and len(table) == 2 * 4  # K = 0..3 per feeder
    assert table.groupby("feeder")["recommended"].sum().tolist() == [1, 1]
    assert (table.loc[table["recommended"], "k"] == 2).all()
    for feeder, points in table.groupby("feeder"):
        problem = _feeder_problem(zone.data, feeder)
        index = {name: j for j, name in enumerate(problem.junctions)}
        for row in points.itertuples():
            x = problem.initial_phase.copy()
            for move in filter(None, row.moves.split("; ")):
                junction, phases = move.split(": ")
                x[index[junction]] = "ABC".index(phases.split(" -> ")[1])
            assert row.changes == (x != problem.initial_phase).sum() <= row.k
            assert imbalance(problem.loads, x) == pytest.approx(row.imbalance, rel=1e-9)  # the point's own moves
            assert row.bound <= row.imbalance + 1e-9 and row.status == "optimal"
        assert points.sort_values("k")["imbalance"].is_monotonic_decreasing
    assert _meta(result, "phase_recommendations")["points_certified"] == len(table)


def test_a_solver_failure_is_status_error_with_the_solvers_words(zone):
    import cvxpy as cp

    run = zone.run
    x = cp.Variable(2)
    cp.Problem(cp.Minimize(cp.sum(x)), [x >= 1]).solve(solver=cp.HIGHS)  # sizes HiGHS's scheduler first
    result = assign(run, max_changes=2, curve_max_changes=2, solver="highs", solver_options={"threads": "64"})
    assert result.success  # recorded, not raised: the incumbent (never worse than today) is still reported
    meta = _meta(result)
    assert meta["status"] == "error"
    assert meta["reason"].startswith("HiGHS status 'Notset': ") and "scheduler" in meta["reason"]
    assert meta["summary_lines"][1] == f"  highs: {meta['reason']}"
    assert meta["tradeoff_curve"].count("| error |") == 3  # K = 0..2, each with its reason


def test_a_bad_solver_option_fails_the_run_with_its_name(zone):
    run = zone.run
    result = assign(run, max_changes=1, curve_max_changes=1, solver_options={"limits/bogus": "1"})
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "SCIP refuses parameter limits/bogus" in str(failure.event_specific_data.error.message) + str(
        failure.event_specific_data.user_failure_data.description)


def test_window_keeps_the_last_days_available(zone):
    result = assign(zone.run, "TR2", max_changes=1, curve_max_changes=1, window_days=1)
    assert result.success
    meta = _meta(result)
    assert meta["hours"] == 24 and meta["window"] == f"{DAYS[1]} .. {DAYS[1]}"


def test_select_window_bounds_and_errors():
    stamps = pd.date_range("2024-01-01", periods=24 * 5, freq="h", tz="UTC")
    frame = pd.DataFrame({"timestamp": stamps, "junction": "J", "phase": "A", "kwh": 1.0, "meters": 1})
    window, first, last = select_window(frame, 2, None)
    assert (first, last) == ("2024-01-04", "2024-01-05") and len(window) == 48
    window, first, last = select_window(frame, 365, "2024-01-02")
    assert last == "2024-01-02" and len(window) == 48 and np.all(window["timestamp"] < "2024-01-03")
    with pytest.raises(ValueError, match="no junction_aggregates rows"):
        select_window(frame, 3, "2023-06-01")
    with pytest.raises(ValueError, match="window_days"):
        select_window(frame, 0, None)


def test_asset_has_a_code_version():
    spec = defs().resolve_assets_def("phase_assignment")
    from lascopf_assets.defs.phase_balancing.assets import PHASE_BALANCING_CODE_VERSION

    assert spec.code_versions_by_key[dg.AssetKey("phase_assignment")] == PHASE_BALANCING_CODE_VERSION


def test_unlimited_lets_every_junction_move_and_matches_brute_force(zone):
    """``unlimited: true`` is the CLI's ``--max-changes all``: K is the feeder's junction count (``max_changes`` is not
    used), and the result is the brute-force optimum over all 3^J assignments."""
    from .brute_force import brute_force

    result = assign(zone.run, "TR2", unlimited=True, max_changes=0, curve_max_changes=1, time_limit_seconds=60)
    assert result.success
    meta = _meta(result)
    problem = _feeder_problem(zone.data, "TR2")
    best, _ = brute_force(problem.loads, problem.initial_phase, problem.n_junctions)
    assert meta["unlimited"] is True and meta["max_changes"] == problem.n_junctions == 5
    assert meta["status"] == "optimal" and meta["imbalance_after"] == pytest.approx(best, rel=1e-6)
    assert meta["summary_lines"][0].startswith(f"phase balancing TR2 {DAYS[0]} .. {DAYS[1]} (K = all 5 junctions, scip)")
    table = zone.run(["phase_recommendations"]).output_for_node("phase_recommendations")
    own = table[table["feeder"] == "TR2"].sort_values("k")
    assert own["k"].tolist() == [0, 1, 5] and own["recommended"].tolist() == [False, False, True]  # K past the curve
    assert own["imbalance"].iloc[-1] == pytest.approx(best, rel=1e-6)
    limited = _meta(assign(zone.run, "TR2", max_changes=0, curve_max_changes=1, time_limit_seconds=60))
    assert limited["unlimited"] is False and limited["n_changes"] == 0 and best <= limited["imbalance_after"] * (1 + 1e-12)
