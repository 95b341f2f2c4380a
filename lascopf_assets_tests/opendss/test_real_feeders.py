"""The real feeders of ../shared/data (skipped with a message where they are absent)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pytest

from lascopf_assets.lib.ingest.landing import read_landing_table
from lascopf_assets.lib.ingest.validation import MeterRules
from lascopf_assets.lib.opendss.feeder_import import import_feeder
from lascopf_assets.lib.opendss.powerflow import phase_impact
from lascopf_assets.lib.phase_balance.lv_feeder import read_feeder_minute_kw
from lascopf_assets.lib.zone.versions import meters_in_force, versioned_topology
from lascopf_assets_tests.opendss.conftest import shared


def _ingestible(out):
    """The platform reads what the import wrote: every landing row parses, every meter has a single-phase junction."""
    for path in out.landing_files[:2]:
        table = read_landing_table(path)
        assert pc.sum(pc.invert(pc.is_null(table["parse_error"]))).as_py() == 0
    table = versioned_topology([out.topology_path], "2023-01-01")
    meters = meters_in_force(table, table["valid_from"].max())
    MeterRules(meters)  # refuses a meter under a junction that is not A, B or C
    return meters


def test_european_lv_import_sanity_figures(tmp_path):
    master = shared("ieee_european_lv", "Master.dss")
    out = import_feeder(master, tmp_path / "lv", pd.Timestamp("2024-01-15").date())
    s = out.summary
    assert s["interval_minutes"] == 1 and s["intervals"] == 1440
    assert s["junctions"] == 55 and s["meters_with_readings"] == 55
    assert s["peak_kw"] == pytest.approx(57.4, abs=0.05)
    assert s["peak_interval"] == 565  # minute 566 counted from 1
    assert s["kwh_by_phase"] == pytest.approx({"A": 179.8, "B": 173.5, "C": 130.6}, abs=0.1)
    meters = _ingestible(out)
    assert sorted(meters["junction"]) == sorted(f"svc_load{i}" for i in range(1, 56))
    # the engine's shapes are the text reader's (phase balancing's European LV path)
    loads, kw = read_feeder_minute_kw(master.parent)
    readings = pd.read_csv(out.landing_files[0])
    got = readings.pivot(index="timestamp", columns="meter_id", values="kwh")
    np.testing.assert_allclose(got[[n.lower() for n in loads["load"]]].to_numpy().T * 60, kw, atol=1e-6)
    phase = dict(zip(meters["meter_id"], meters["phase"]))
    assert [phase[n.lower()] for n in loads["load"]] == loads["phase"].tolist()


def test_european_lv_physics_energy_balance_and_a_move(tmp_path):
    master = shared("ieee_european_lv", "Master.dss")
    result = phase_impact(master, [{"junction": "LOAD1", "from_phase": "A", "to_phase": "C"}], resolution="hourly")
    before, after = result["before"], result["after"]
    assert result["steps"] == 24 and before["converged_steps"] == after["converged_steps"] == 24
    for r in (before, after):
        assert r["source_kwh"] - r["load_kwh"] == pytest.approx(r["losses_kwh"], rel=1e-3)
        assert 0 < r["max_vuf_pct"] < 5 and 0.9 < r["min_voltage_pu"] < 1.1
    # LOAD1 (about 11 kWh a day in the engine) leaves A for C; B keeps its loads
    moved = before["load_kwh_by_phase"]["A"] - after["load_kwh_by_phase"]["A"]
    assert moved > 5
    assert after["load_kwh_by_phase"]["C"] - before["load_kwh_by_phase"]["C"] == pytest.approx(moved, rel=0.01)
    assert after["load_kwh_by_phase"]["B"] == pytest.approx(before["load_kwh_by_phase"]["B"], rel=0.01)


def test_european_lv_minute_peak_step(tmp_path):
    master = shared("ieee_european_lv", "Master.dss")
    from lascopf_assets.lib.opendss.powerflow import impact_curve

    before = impact_curve(master, {}, steps=600)["before"]  # one run: the feeder as it is
    assert before["steps"] == 600 and before["converged_steps"] == 600
    assert before["max_neutral_current_step"] in range(560, 575)  # around the published peak, minute 566


def test_ieee123_import_and_run(tmp_path):
    master = shared("ieee123", "IEEE123Master.dss")
    shape = shared("ieee123", "Loadshapes", "LoadShape1.DSS")
    out = import_feeder(master, tmp_path / "123", shape_file=shape)
    s = out.summary
    assert s["intervals"] == 8760 and len(out.landing_files) == 365
    assert s["junctions"] == 59 and s["feeder"] == "reg1a"
    meters = _ingestible(out)
    # one- and two-phase laterals: l1 (B) off bus 1; the two-phase L25 behind regulators reg3a/reg3c, one per phase
    junctions = dict(zip(meters["junction"], meters["phase"]))
    assert junctions["l1"] == "B" and junctions["reg3a"] == "A" and junctions["reg3c"] == "C"
    changes = [{"junction": "l1", "from_phase": "B", "to_phase": "A"}, {"junction": "reg3a", "from_phase": "A", "to_phase": "B"}]
    result = phase_impact(master, changes, steps=3, shape_file=shape)
    for key in ("before", "after"):
        assert result[key]["converged_steps"] == 3
        assert result[key]["source_kwh"] - result[key]["load_kwh"] == pytest.approx(result[key]["losses_kwh"], rel=1e-3)
    assert result["after"]["load_kwh_by_phase"] != result["before"]["load_kwh_by_phase"]


def test_ieee8500_import_and_run(tmp_path):
    master = shared("ieee8500", "Master.dss")
    out = import_feeder(master, tmp_path / "8500")
    s = out.summary
    assert s["meters_with_readings"] == 1177 and s["junctions"] > 100 and s["feeder"] == "hvmv_sub"
    _ingestible(out)
    result = phase_impact(master, [], steps=2)
    before = result["before"]
    assert before["converged_steps"] == 2
    assert before["source_kwh"] / 2 == pytest.approx(11984, rel=0.01)  # the README's converged snapshot


def test_european_lv_constant_power_loads_draw_exactly_their_shapes():
    """Second path for the energies: with every load held at constant power (its published voltage band
    switches it to constant impedance above 1.05 pu), the engine's metered load energy per phase is the
    shapes' own (the README's 179.8 / 173.5 / 130.6 kWh), and losses still close the balance."""
    from lascopf_assets.lib.opendss.circuit import read_circuit
    from lascopf_assets.lib.opendss.engine import command, compile_circuit
    from lascopf_assets.lib.opendss.powerflow import load_phases, run_time_series
    from lascopf_assets.lib.opendss.topology import feeder_topology

    ctx = compile_circuit(shared("ieee_european_lv", "Master.dss"))
    ft = feeder_topology(read_circuit(ctx))
    command(ctx, "batchedit load..* vmaxpu=1.5 vminpu=0.5")
    r = run_time_series(ctx, ft, 1 / 60, 1440, load_phases(ft))
    assert r["load_kwh_by_phase"] == pytest.approx({"A": 179.837, "B": 173.472, "C": 130.605}, abs=0.01)
    assert r["source_kwh"] - r["load_kwh"] == pytest.approx(r["losses_kwh"], rel=1e-3)


def test_european_lv_landing_timestamps_are_whole_minutes(tmp_path):
    out = import_feeder(shared("ieee_european_lv", "Master.dss"), tmp_path / "lv")
    stamps = pd.to_datetime(pd.read_csv(out.landing_files[0])["timestamp"].unique())
    assert len(stamps) == 1440 and (stamps.second == 0).all()
    assert (stamps[1:] - stamps[:-1] == pd.Timedelta(minutes=1)).all()
