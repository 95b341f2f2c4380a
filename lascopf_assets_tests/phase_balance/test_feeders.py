"""Phase balancing feeder by feeder: each feeder its own problem, equal to a brute-force solve of that feeder alone."""

import json

import numpy as np
import pandas as pd
import pytest

from lascopf_assets.cli import main
from lascopf_assets.lib.phase_balance.exact import solve_fast
from lascopf_assets.lib.phase_balance.feeders import (
    FeederBalance,
    balance_feeders,
    balances_frame,
    feeder_ranking,
    problems_by_feeder,
)
from lascopf_assets.lib.phase_balance.metric import imbalance
from lascopf_assets.lib.phase_balance.problem import LoadTableError, PhaseBalanceProblem, problem_to_long_table

from .brute_force import brute_force, random_instance

FEEDERS = {"F-north": (5, 0), "F-south": (4, 1), "F-east": (6, 2)}  # feeder -> (junctions, seed)
HOURS = 24


def _feeder_table() -> tuple[pd.DataFrame, dict[str, PhaseBalanceProblem]]:
    """A long table of three feeders with their own junction names, and each feeder's problem on its own."""
    frames, alone = [], {}
    stamps = pd.date_range("2024-03-01", periods=HOURS, freq="h", tz="UTC")
    for feeder, (n, seed) in FEEDERS.items():
        loads, phase = random_instance(np.random.default_rng(seed), n, HOURS)
        problem = PhaseBalanceProblem(loads, phase, np.array([f"{feeder}/J{j}" for j in range(n)], dtype=object),
                                      stamps.to_numpy())
        alone[feeder] = problem
        frames.append(problem_to_long_table(problem).assign(feeder=feeder))
    table = pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=3).reset_index(drop=True)  # rows mixed
    return table[["feeder", "junction", "phase", "timestamp", "kwh"]], alone


def test_each_feeder_equals_a_brute_force_solve_of_that_feeder_alone():
    table, alone = _feeder_table()
    problems = problems_by_feeder(table, csv_lines=False)
    assert sorted(problems) == sorted(FEEDERS)
    K = 2
    balances = balance_feeders(problems, lambda p: (solve_fast(p, K, solver="scip", gap_tolerance=1e-9), None))
    for b in balances:
        own = alone[b.feeder]
        assert sorted(b.problem.junctions) == sorted(own.junctions)  # nothing of another feeder in it
        best, _ = brute_force(b.problem.loads, b.problem.initial_phase, K)
        assert b.result.status == "optimal"
        assert b.result.imbalance == pytest.approx(best, rel=1e-6, abs=1e-9)
        assert imbalance(b.problem.loads, b.result.assignment) == pytest.approx(b.result.imbalance, rel=1e-9)
        # the same problem as the feeder on its own: same loads under the same names
        order = np.argsort(own.junctions)
        assert np.allclose(b.problem.loads, own.loads[order])
        assert len(b.result.changes) <= K  # its own K
        assert all(c.junction.startswith(f"{b.feeder}/") for c in b.result.changes)  # no move crosses a feeder


def test_pooling_feeders_would_balance_a_sum_no_transformer_carries():
    table, _ = _feeder_table()
    per_feeder = problems_by_feeder(table, csv_lines=False)
    pooled = problems_by_feeder(table.assign(feeder="all"), csv_lines=False)["all"]
    K = 2
    pooled_result = solve_fast(pooled, K, solver="scip", gap_tolerance=1e-9)
    # the pooled optimum, judged feeder by feeder, is worse than the per-feeder optima
    pooled_phase = dict(zip(pooled.junctions, pooled_result.assignment))
    judged = sum(imbalance(p.loads, np.array([pooled_phase[j] for j in p.junctions])) for p in per_feeder.values())
    best = sum(brute_force(p.loads, p.initial_phase, K)[0] for p in per_feeder.values())
    assert judged > best + 1e-6


def test_a_junction_under_two_feeders_is_refused_naming_both_lines():
    table, _ = _feeder_table()
    j = table["junction"].iloc[0]
    second = int(np.flatnonzero(table["junction"].to_numpy() == j)[1])
    table.loc[second, "feeder"] = "F-other"
    with pytest.raises(LoadTableError, match=rf"loads.csv line {second + 2}: junction '{j}' is under feeder 'F-other' "
                                             rf"here but under '{table['feeder'].iloc[0]}' at loads.csv line 2"):
        problems_by_feeder(table, source="loads.csv")


def test_an_empty_feeder_is_refused_with_its_row():
    table, _ = _feeder_table()
    table.loc[7, "feeder"] = ""
    with pytest.raises(LoadTableError, match=r"loads row 8: empty feeder"):
        problems_by_feeder(table, csv_lines=False)


def test_row_errors_inside_a_feeder_name_the_row_of_the_whole_table():
    table, _ = _feeder_table()
    table["kwh"] = table["kwh"].astype(object)
    table.loc[11, "kwh"] = "lots"
    with pytest.raises(LoadTableError, match=r"t.csv line 13: kwh 'lots' is not a finite number"):
        problems_by_feeder(table, source="t.csv")


def test_ranking_orders_by_imbalance_removed_per_change():
    outcomes = pd.DataFrame([
        {"feeder": "A", "status": "optimal", "junctions": 10, "changes": 2, "initial_imbalance": 100.0, "imbalance": 60.0, "gap": 0.0},
        {"feeder": "B", "status": "optimal", "junctions": 10, "changes": 5, "initial_imbalance": 300.0, "imbalance": 100.0, "gap": 0.0},
        {"feeder": "C", "status": "optimal", "junctions": 3, "changes": 0, "initial_imbalance": 5.0, "imbalance": 5.0, "gap": 0.0},
        {"feeder": "D", "status": "time_limit", "junctions": 9, "changes": 1, "initial_imbalance": 50.0, "imbalance": 10.0, "gap": 0.1},
    ])
    ranked = feeder_ranking(outcomes)
    assert ranked["feeder"].tolist() == ["B", "D", "A", "C"]  # 40 (200 removed), 40 (40 removed), 20, no change
    assert ranked["rank"].tolist() == [1, 2, 3, 4]
    assert ranked.loc[0, "removed_per_change"] == pytest.approx(40.0)
    assert np.isnan(ranked.loc[3, "removed_per_change"])


def _write_csv(tmp_path, table):
    path = tmp_path / "loads.csv"
    out = table.copy()
    out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    out.to_csv(path, index=False)
    return path


def test_cli_json_with_a_feeder_column_lists_every_feeder(tmp_path, capsys):
    table, alone = _feeder_table()
    path = _write_csv(tmp_path, table)
    assert main(["phase-balance", str(path), "--max-changes", "1", "--curve", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["feeders"]
    assert [f["feeder"] for f in out["feeders"]] == sorted(FEEDERS)
    for entry in out["feeders"]:
        for key in ("status", "initial_imbalance", "imbalance", "bound", "gap", "changes", "solve_seconds"):
            assert key in entry
        own = alone[entry["feeder"]]
        best, _ = brute_force(own.loads, own.initial_phase, 1)
        assert entry["imbalance"] == pytest.approx(best, rel=1e-6)
        assert [c["max_changes"] for c in entry["curve"]] == [0, 1, 2]
        assert entry["curve"][0]["imbalance"] == pytest.approx(entry["initial_imbalance"])
        assert all(c["junction"].startswith(entry["feeder"] + "/") for c in entry["changes"])


def test_cli_text_with_feeders_prints_each_feeder_and_the_ranking(tmp_path, capsys):
    table, _ = _feeder_table()
    path = _write_csv(tmp_path, table)
    report = tmp_path / "r.html"
    assert main(["phase-balance", str(path), "--max-changes", "1", "--report", str(report)]) == 0
    text = capsys.readouterr().out
    assert "3 feeders, K = 1 each" in text
    assert "ranking (imbalance removed per phase change):" in text
    for feeder in FEEDERS:
        assert f"feeder {feeder}:" in text
        assert (tmp_path / f"r_{feeder}.html").exists()


def test_cli_without_a_feeder_column_keeps_the_single_object(tmp_path, capsys):
    table, _ = _feeder_table()
    path = _write_csv(tmp_path, table[table["feeder"] == "F-south"].drop(columns="feeder"))
    assert main(["phase-balance", str(path), "--max-changes", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "feeders" not in out and out["status"] == "optimal" and out["junctions"] == 4


def test_balances_frame_feeds_the_ranking():
    table, _ = _feeder_table()
    problems = problems_by_feeder(table, csv_lines=False)
    balances = balance_feeders(problems, lambda p: (solve_fast(p, 1, solver="highs"), None))
    assert all(isinstance(b, FeederBalance) for b in balances)
    ranked = feeder_ranking(balances_frame(balances))
    assert set(ranked["feeder"]) == set(FEEDERS)
    assert (ranked["removed"] >= -1e-9).all()


class _RecordingBalancer:
    """Spends a given fraction of each share it is handed, and records the shares (the policy under test)."""

    def __init__(self, spend: dict[int, float]):
        self.spend, self.shares = spend, {}

    def solve(self, k, share, gap):
        import time

        self.shares[k] = share
        if share:
            time.sleep(share * self.spend.get(k, 0.0))
        return _Solved(k)


class _Solved(int):
    """K as the solve's result: an optimal point of a flat curve (what the curve's bound carrying reads)."""

    status, imbalance, bound, reason = "optimal", 1.0, 1.0, None


def test_each_k_gets_what_is_left_but_the_floors_of_the_k_after_it():
    from lascopf_assets.lib.phase_balance.exact import solve_with_curve

    budget = 1.1  # 11 solves: an equal share is 0.1 s, a floor half of it
    balancer = _RecordingBalancer({k: 1.0 for k in range(6, 11)})  # K <= 5 finish at once, larger K use it all
    result, curve = solve_with_curve(balancer, 5, 10, budget)
    assert result == 5 and curve == list(range(11))
    assert list(balancer.shares) == list(range(11))  # increasing K: cuts and incumbents carry over
    floor = 0.05
    # K = 0 keeps back a floor for K = 1..4 and 6..10, and an equal share for the asked-for K = 5
    assert balancer.shares[0] == pytest.approx(budget - 9 * floor - 0.1, abs=0.02)
    assert balancer.shares[5] == pytest.approx(budget - 5 * floor, abs=0.05)  # K = 5 gets what K = 0..4 left
    # K = 5 spent nothing: K = 6, the first K that uses its time, gets all but the floors of K = 7..10
    assert balancer.shares[6] == pytest.approx(budget - 4 * floor, abs=0.05)
    assert all(balancer.shares[k] == pytest.approx(floor, abs=0.02) for k in range(7, 11))


def test_without_a_time_limit_every_k_is_unbounded():
    from lascopf_assets.lib.phase_balance.exact import solve_with_curve

    balancer = _RecordingBalancer({})
    solve_with_curve(balancer, 3, 5, None)
    assert list(balancer.shares) == [0, 1, 2, 3, 4, 5] and set(balancer.shares.values()) == {None}


def test_when_the_asked_for_k_uses_its_time_the_curve_still_has_its_floors():
    from lascopf_assets.lib.phase_balance.exact import solve_with_curve

    budget = 1.1
    balancer = _RecordingBalancer({5: 1.0})  # K = 5 uses all it is given
    solve_with_curve(balancer, 5, 10, budget)
    floor = 0.05  # half of an equal share (0.1 s)
    assert balancer.shares[5] == pytest.approx(budget - 5 * floor, abs=0.05)
    assert balancer.shares[6] == pytest.approx(floor, abs=0.02)  # what K = 5 kept back for it
    # K = 6..10 spend nothing, so each K after them gets one floor more
    assert [round(balancer.shares[k] / floor) for k in range(6, 11)] == [1, 2, 3, 4, 5]
