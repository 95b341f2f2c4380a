"""The input contract, bad input as one-line errors, and the CLI's JSON object."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lascopf_assets.cli import main
from lascopf_assets.lib.phase_balance.generator import generate_instance
from lascopf_assets.lib.phase_balance.metric import imbalance
from lascopf_assets.lib.phase_balance.problem import (
    LoadTableError,
    problem_from_long_table,
    problem_to_long_table,
    read_load_table,
)


@pytest.fixture
def table():
    return problem_to_long_table(generate_instance(8, 48, seed=3))


def test_long_table_round_trip_csv_and_parquet(table, tmp_path):
    shuffled = table.sample(frac=1.0, random_state=0)
    original = problem_from_long_table(table)
    for path in (tmp_path / "loads.csv", tmp_path / "loads.parquet"):
        (shuffled.to_csv(path, index=False) if path.suffix == ".csv" else shuffled.to_parquet(path))
        p = read_load_table(path)
        assert list(p.junctions) == list(original.junctions)
        assert np.array_equal(p.initial_phase, original.initial_phase)
        assert np.allclose(p.loads, original.loads)
        assert imbalance(p.loads, p.initial_phase) == pytest.approx(imbalance(original.loads, original.initial_phase))


def test_missing_pairs_count_as_zero(table):
    p = problem_from_long_table(table.drop(index=[0]))
    assert p.loads[0, 0] == 0.0 and p.loads.shape == (8, 48)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda t: t.drop(columns=["kwh"]), r"missing column\(s\) kwh"),
        (lambda t: t.assign(kwh=t["kwh"].astype(object).where(t.index != 5, "abc")), r"line 7: kwh 'abc' is not a finite number"),
        (lambda t: t.assign(phase=t["phase"].where(t.index != 3, "B" if t["phase"][0] != "B" else "C")),
         r"line 5: junction 'JN0000' is on phase . here but on phase . at .* line 2"),
        (lambda t: t.assign(phase=t["phase"].where(t.index != 4, "D")), r"line 6: phase 'D' is not one of A, B, C"),
        (lambda t: pd.concat([t, t.iloc[[2]]]), r"already given at .* line 4"),
    ],
)
def test_bad_tables_give_one_line_reasons(table, tmp_path, mutate, message):
    path = tmp_path / "bad.csv"
    mutate(table).to_csv(path, index=False)
    with pytest.raises(LoadTableError, match=message) as info:
        read_load_table(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_cli_json_object(table, tmp_path, capsys):
    path = tmp_path / "loads.parquet"
    table.to_parquet(path)
    assert main(["phase-balance", str(path), "--max-changes", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("status", "initial_imbalance", "imbalance", "bound", "gap", "changes", "solve_seconds"):
        assert key in out
    assert out["status"] == "optimal" and len(out["changes"]) <= 2
    problem = read_load_table(path)
    x = problem.initial_phase.copy()
    index = {name: j for j, name in enumerate(problem.junctions)}
    for c in out["changes"]:
        assert set(c) == {"junction", "from_phase", "to_phase"} and c["from_phase"] != c["to_phase"]
        x[index[c["junction"]]] = "ABC".index(c["to_phase"])
    assert imbalance(problem.loads, x) == pytest.approx(out["imbalance"], rel=1e-9)
    assert out["bound"] <= out["imbalance"] <= out["initial_imbalance"]


def test_cli_reference_method_curve_and_report(table, tmp_path, capsys):
    path = tmp_path / "loads.csv"
    table.to_csv(path, index=False)
    assert main(["phase-balance", str(path), "--max-changes", "1", "--method", "reference", "--solver", "highs",
                 "--json"]) == 0
    ref = json.loads(capsys.readouterr().out)
    report = tmp_path / "r.html"
    assert main(["phase-balance", str(path), "--max-changes", "1", "--curve", "3", "--json",
                 "--report", str(report)]) == 0
    fast = json.loads(capsys.readouterr().out)
    assert fast["imbalance"] == pytest.approx(ref["imbalance"], rel=1e-6)
    assert [c["max_changes"] for c in fast["curve"]] == [0, 1, 2, 3]
    assert fast["curve"][1]["imbalance"] == pytest.approx(fast["imbalance"])
    assert report.read_text().count("data:image/png;base64,") == 4


@pytest.mark.parametrize(
    "args,message",
    [
        (["--max-changes", "-1"], "--max-changes must be >= 0"),
        (["--max-changes", "2", "--time-limit", "0"], "--time-limit must be a positive"),
        (["--max-changes", "1", "--curve", "2", "--method", "reference"], "--curve is computed with --method fast"),
        (["--max-changes", "1", "--groups", "0"], "--groups must be >= 1"),
    ],
)
def test_cli_bad_arguments(table, tmp_path, capsys, args, message):
    path = tmp_path / "loads.csv"
    table.to_csv(path, index=False)
    assert main(["phase-balance", str(path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_cli_bad_file_exits_non_zero_with_one_line(table, tmp_path):
    path = tmp_path / "two_phases.csv"
    bad = table.copy()
    bad.loc[bad.index[-1], "phase"] = "A" if bad["phase"].iloc[-1] != "A" else "B"
    bad.to_csv(path, index=False)
    proc = subprocess.run([sys.executable, "-m", "lascopf_assets.cli", "phase-balance", str(path),
                           "--max-changes", "1", "--json"], capture_output=True, text=True)
    assert proc.returncode != 0 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "is on phase" in lines[0] and "two_phases.csv line" in lines[0]


def _apply(problem, changes):
    x = problem.initial_phase.copy()
    index = {name: j for j, name in enumerate(problem.junctions)}
    for c in changes:
        assert set(c) == {"junction", "from_phase", "to_phase"} and c["from_phase"] != c["to_phase"]
        assert "ABC"[x[index[c["junction"]]]] == c["from_phase"]
        x[index[c["junction"]]] = "ABC".index(c["to_phase"])
    return x


def test_cli_every_curve_point_carries_its_own_changes_and_can_be_checked_alone(table, tmp_path, capsys):
    from .brute_force import brute_force

    path = tmp_path / "loads.parquet"
    table.to_parquet(path)
    assert main(["phase-balance", str(path), "--max-changes", "2", "--curve", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    problem = read_load_table(path)
    for point in out["curve"]:
        assert {"max_changes", "changes", "status", "imbalance", "bound", "gap", "seconds"} <= set(point)
        assert point["status"] == "optimal" and point["seconds"] >= 0
        x = _apply(problem, point["changes"])
        assert len(point["changes"]) <= point["max_changes"]
        assert imbalance(problem.loads, x) == pytest.approx(point["imbalance"], rel=1e-9)
        best, _ = brute_force(problem.loads, problem.initial_phase, point["max_changes"])
        assert point["bound"] <= best * (1 + 1e-9) and point["imbalance"] == pytest.approx(best, rel=1e-6)
        assert point["gap"] == pytest.approx(max(0.0, (point["imbalance"] - point["bound"]) / point["imbalance"]))


@pytest.mark.parametrize("method", ["fast", "reference"])
def test_cli_max_changes_all_is_the_unlimited_setting(table, tmp_path, capsys, method):
    from .brute_force import brute_force

    path = tmp_path / "loads.parquet"
    table.to_parquet(path)
    extra = ["--solver", "highs"] if method == "reference" else []
    assert main(["phase-balance", str(path), "--max-changes", "all", "--method", method, "--json", *extra]) == 0
    out = json.loads(capsys.readouterr().out)
    problem = read_load_table(path)
    best, best_x = brute_force(problem.loads, problem.initial_phase, problem.n_junctions)
    assert out["unlimited"] is True and out["max_changes"] == problem.n_junctions
    assert out["status"] == "optimal" and out["imbalance"] == pytest.approx(best, rel=1e-6)
    assert out["bound"] <= best * (1 + 1e-9)
    x = _apply(problem, out["changes"])
    assert imbalance(problem.loads, x) == pytest.approx(out["imbalance"], rel=1e-9)
    # of the 6 phase relabelings of an optimum (all equally balanced) the one with the fewest visits is reported
    fewest = min(np.count_nonzero(np.asarray(p)[best_x] != problem.initial_phase)
                 for p in [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)])
    assert len(out["changes"]) <= fewest or imbalance(problem.loads, x) < best * (1 - 1e-9)


def test_cli_max_changes_must_be_a_number_or_all(table, tmp_path, capsys):
    path = tmp_path / "loads.csv"
    table.to_csv(path, index=False)
    with pytest.raises(SystemExit) as info:
        main(["phase-balance", str(path), "--max-changes", "some"])
    assert info.value.code == 2
    assert "expected a whole number of changes or 'all'" in capsys.readouterr().err


def test_cli_unlimited_on_a_larger_feeder_reports_its_neighbourhood_search(tmp_path, capsys):
    path = tmp_path / "loads.parquet"
    problem_to_long_table(generate_instance(16, 48, seed=5)).to_parquet(path)
    assert main(["phase-balance", str(path), "--max-changes", "all", "--time-limit", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    search = out["neighbourhood_search"]
    assert search["steps"] >= 1 and search["improved"] <= search["steps"] and search["proven"] <= search["steps"]
    assert out["bound"] <= out["imbalance"] and out["solve_seconds"] <= 4 + 2
    problem = read_load_table(path)
    assert imbalance(problem.loads, _apply(problem, out["changes"])) == pytest.approx(out["imbalance"], rel=1e-9)
    assert main(["phase-balance", str(path), "--max-changes", "all", "--time-limit", "4"]) == 0
    assert "neighbourhood search: " in capsys.readouterr().out
    assert main(["phase-balance", str(path), "--max-changes", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["neighbourhood_search"] is None
