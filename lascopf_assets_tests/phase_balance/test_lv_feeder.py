"""The IEEE European LV feeder reader against the data README's sanity figures, and through the CLI."""

import json
from pathlib import Path

import numpy as np
import pytest

from lascopf_assets.cli import main
from lascopf_assets.lib.phase_balance.lv_feeder import feeder_load_table, read_feeder_minute_kw
from lascopf_assets.lib.phase_balance.problem import problem_from_long_table

FEEDER = Path(__file__).resolve().parents[3] / "shared" / "data" / "ieee_european_lv"
pytestmark = pytest.mark.skipif(
    not (FEEDER / "Loads.txt").exists(),
    reason=f"IEEE European LV feeder data not found at {FEEDER} (expected ../shared/data/ieee_european_lv)",
)


def test_sanity_figures_of_the_data_readme():
    loads, kw = read_feeder_minute_kw(FEEDER)
    assert len(loads) == 55 and kw.shape == (55, 1440)
    energy = {p: kw[(loads["phase"] == p).to_numpy()].sum() / 60 for p in "ABC"}
    assert energy["A"] == pytest.approx(179.8, abs=0.1)
    assert energy["B"] == pytest.approx(173.5, abs=0.1)
    assert energy["C"] == pytest.approx(130.6, abs=0.1)
    total = kw.sum(axis=0)
    assert total.max() == pytest.approx(57.4, abs=0.05)
    assert int(np.argmax(total)) + 1 == 566  # minute 566, counting from 1


def test_hourly_and_minute_tables_hold_the_same_energy():
    hourly = feeder_load_table(FEEDER, "hourly")
    minute = feeder_load_table(FEEDER, "minute")
    assert len(hourly) == 55 * 24 and len(minute) == 55 * 1440
    assert list(hourly.columns) == ["junction", "phase", "timestamp", "kwh"]
    for p in "ABC":
        assert hourly[hourly.phase == p].kwh.sum() == pytest.approx(minute[minute.phase == p].kwh.sum(), rel=1e-12)
    problem = problem_from_long_table(hourly)
    assert problem.loads.shape == (55, 24)


def test_feeder_through_the_cli_hourly(capsys):
    assert main(["phase-balance", str(FEEDER), "--max-changes", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "optimal" and out["junctions"] == 55 and out["intervals"] == 24
    assert len(out["changes"]) <= 5 and out["imbalance"] < out["initial_imbalance"]
