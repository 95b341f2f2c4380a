"""The tiny feeder of conftest.py, whose figures follow in closed form.

A constant-power unity-PF load ``P`` behind a resistance ``R`` from a stiff phase voltage ``V0``
draws ``I = P / V`` with ``V = V0 - I R``, so ``V = (V0 + sqrt(V0^2 - 4 P R)) / 2``. With the
return through ideal ground, each phase is its own circuit: losses ``sum_p I_p^2 R``; the neutral
current ``|sum_p I_p e^{-j 120 p}|``; and with only phase A loaded the far bus has
``Va = V0 - I R``, ``Vb = a^2 V0``, ``Vc = a V0``, so ``V2 = -I R / 3``, ``V1 = V0 - I R / 3`` and
``VUF = I R / (3 V0 - I R)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lascopf_assets.cli import main
from lascopf_assets.lib.opendss.engine import CircuitError
from lascopf_assets.lib.opendss.feeder_import import import_feeder
from lascopf_assets.lib.opendss.powerflow import phase_impact, vuf_pct
from lascopf_assets_tests.opendss.conftest import LOAD_KW, MULT, R_LINE, V_LN

A = np.exp(2j * np.pi / 3)


def _phase(p_kw):
    """(current A, far voltage V) of a constant-power load of ``p_kw`` behind R_LINE."""
    p = np.asarray(p_kw) * 1000.0
    v = (V_LN + np.sqrt(V_LN**2 - 4 * p * R_LINE)) / 2
    return p / v, v


def test_vuf_formula_on_known_phasors():
    balanced = np.array([1, A * A, A])  # positive sequence
    assert vuf_pct(balanced) == pytest.approx(0, abs=1e-9)
    assert vuf_pct(balanced + 0.1 * np.array([1, A, A * A])) == pytest.approx(10.0)


def test_import_writes_topology_and_interval_kwh(tiny_master, tmp_path):
    out = import_feeder(tiny_master, tmp_path / "out")
    topo = pd.read_csv(out.topology_path, keep_default_na=False)
    assert set(topo["grid_element_id"]) == {"tx", "l1", "svc_load1", "svc_load2", "load1", "load2"}
    assert out.summary["junctions_by_phase"] == {"A": 2}
    (landing,) = out.landing_files
    readings = pd.read_csv(landing)
    got = readings.pivot(index="timestamp", columns="meter_id", values="kwh")
    for load, kw in LOAD_KW.items():
        np.testing.assert_allclose(got[load].to_numpy(), kw * np.array(MULT))  # kWh per 1-hour interval
    assert list(got.index) == [f"2023-01-01T0{h}:00:00+00:00" for h in range(4)]


def test_before_matches_closed_form_and_after_moves_load2(tiny_master):
    result = phase_impact(tiny_master, [{"junction": "load2", "from_phase": "A", "to_phase": "B"}])
    total = sum(LOAD_KW.values()) * np.array(MULT)
    i, v = _phase(total)
    before = result["before"]
    assert (before["converged_steps"], before["steps"]) == (4, 4)
    assert before["max_neutral_current_a"] == pytest.approx(i.max(), rel=1e-3)
    assert before["losses_kwh"] == pytest.approx((i**2 * R_LINE).sum() / 1000, rel=1e-3)
    assert before["max_vuf_pct"] == pytest.approx((i * R_LINE / (3 * V_LN - i * R_LINE)).max() * 100, rel=1e-3)
    assert before["max_vuf_bus"] == "far"
    assert before["min_voltage_pu"] == pytest.approx(v.min() / V_LN, rel=1e-4)
    # loads metered by engine monitors (single precision), source and losses from the circuit totals
    assert before["source_kwh"] - before["load_kwh"] == pytest.approx(before["losses_kwh"], rel=2e-3)

    ia, _ = _phase(LOAD_KW["load1"] * np.array(MULT))
    ib, _ = _phase(LOAD_KW["load2"] * np.array(MULT))
    after = result["after"]
    assert result["changes"] == [{"junction": "svc_load2", "from_phase": "A", "to_phase": "B"}]
    # currents in phase with their own phase voltages (to the voltage-drop angle, zero here: R only, unity PF)
    assert after["max_neutral_current_a"] == pytest.approx(np.abs(ia + ib * A * A).max(), rel=1e-3)
    assert after["losses_kwh"] == pytest.approx(((ia**2 + ib**2) * R_LINE).sum() / 1000, rel=1e-3)
    assert after["load_kwh_by_phase"]["B"] == pytest.approx(LOAD_KW["load2"] * sum(MULT), rel=1e-5)  # monitors hold float32
    assert after["max_vuf_pct"] < before["max_vuf_pct"]


def test_stale_or_unknown_change_is_refused(tiny_master):
    with pytest.raises(CircuitError, match="is on phase A, not B"):
        phase_impact(tiny_master, [{"junction": "svc_load1", "from_phase": "B", "to_phase": "C"}])
    with pytest.raises(CircuitError, match="no such junction"):
        phase_impact(tiny_master, [{"junction": "nowhere", "from_phase": "A", "to_phase": "C"}])


def test_cli_commands(tiny_master, tmp_path, capsys):
    import json

    assert main(["feeder-import", str(tiny_master), str(tmp_path / "o"), "--start", "2024-03-01", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["start"] == "2024-03-01" and summary["meters_with_readings"] == 2
    assert (tmp_path / "o" / "landing" / "meter_readings_2024-03-01.csv").is_file()
    changes = tmp_path / "changes.json"
    changes.write_text(json.dumps({"changes": [{"junction": "svc_load1", "from_phase": "A", "to_phase": "C"}]}))
    assert main(["phase-impact", str(tiny_master), "--changes", str(changes), "--steps", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 2 and set(out) >= {"before", "after", "steps"}
    for key in ("max_vuf_pct", "p95_vuf_pct", "max_neutral_current_a", "losses_kwh", "min_voltage_pu", "converged_steps"):
        assert key in out["before"] and key in out["after"]
    changes.write_text("[{\"junction\": \"svc_load1\", \"from_phase\": \"C\", \"to_phase\": \"A\"}]")
    assert main(["phase-impact", str(tiny_master), "--changes", str(changes), "--json"]) == 2


def test_impact_curve_runs_before_once_and_each_distinct_change_set(tiny_master, tmp_path):
    from lascopf_assets.lib.opendss.feeder_import import feeder_models
    from lascopf_assets.lib.opendss.powerflow import impact_curve, phase_impact

    move = {"junction": "svc_load2", "from_phase": "A", "to_phase": "B"}
    # the same move named by its load, and an empty set: solved once each with the feeder as it is
    sets = {"k=0": [], "k=1": [move], "recommended": [{**move, "junction": "LOAD2"}]}
    result = impact_curve(tiny_master, sets, steps=2)
    assert set(result["after"]) == {"k=0", "k=1", "recommended"}
    assert result["runs"] == 2
    assert result["after"]["k=0"] == result["before"]
    assert result["after"]["recommended"] == result["after"]["k=1"]
    assert result["after"]["k=1"]["losses_kwh"] < result["before"]["losses_kwh"]
    # a reused run has the figures a run of its own gives
    alone = phase_impact(tiny_master, [move], steps=2)["after"]
    for key in ("max_vuf_pct", "max_neutral_current_a", "losses_kwh", "min_voltage_pu"):
        assert result["after"]["recommended"][key] == pytest.approx(alone[key], rel=1e-9)
    out = import_feeder(tiny_master, tmp_path / "o")
    assert feeder_models(out.topology_path.parent) == {"tx": {"master": str(tiny_master.resolve()), "shape": None, "prefix": ""}}
