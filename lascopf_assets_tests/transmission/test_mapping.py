"""Feeder-to-bus mapping: the documented rule, exactly, on a hand-made example."""

import re

import numpy as np
import pandas as pd
import pytest

from lascopf_assets.lib.network.model import Network
from lascopf_assets.lib.powersystems import MappingError, day_hours, map_feeders_to_buses, spread_mapping

DAY = "2023-03-05"


def small_network() -> Network:
    bus = pd.DataFrame({"bus": [1, 2, 3, 4], "pd_mw": [0.0, 10.0, 30.0, 7.0], "gs_mw": 0.0, "area": 1,
                        "is_ref": [True, False, False, False]})
    gen = pd.DataFrame({"gen": ["G1"], "bus": [1], "pmin_mw": [0.0], "pmax_mw": [100.0], "ramp_up_mw": [np.inf],
                        "ramp_down_mw": [np.inf], "p_prev_mw": [np.nan], "cost_model": ["poly"], "c2": [0.0], "c1": [10.0], "c0": [0.0]})
    branch = pd.DataFrame({"branch": ["L1", "L2", "L3"], "from_bus": [1, 2, 3], "to_bus": [2, 3, 4], "r_pu": 0.0, "x_pu": 0.1,
                           "tap": 1.0, "shift_deg": 0.0, "rate_mw": np.inf, "angmin_deg": -np.inf, "angmax_deg": np.inf,
                           "contingency_marked": False, "source_row": [1, 2, 3]})
    return Network("small", 100.0, bus, gen, branch)


def aggregates() -> pd.DataFrame:
    h = day_hours(DAY)
    rows = []
    for i, t in enumerate(h):
        if i < 12:  # J1: 1 kWh split over two phases in the morning, 3 kWh on one phase after noon
            rows += [(t, "J1", "A", 0.5), (t, "J1", "B", 0.5)]
        else:
            rows.append((t, "J1", "A", 3.0))
        if i != 7:  # J2: 2 kWh every hour but hour 7, which has no row (counts 0)
            rows.append((t, "J2", "C", 2.0))
        rows.append((t, "J4", "A", 5.0))  # not mapped
    rows += [(h[7], "J3", "B", 2.0), (h[5], "J3", "B", 48.0)]
    rows.append((h[0] - pd.Timedelta(hours=1), "J1", "A", 1e6))  # the previous day: ignored
    return pd.DataFrame(rows, columns=["timestamp", "feeder", "phase", "kwh"])


def test_explicit_mapping_scales_case_load_by_feeder_shape():
    net = small_network()
    loads = map_feeders_to_buses(net, aggregates(), DAY, {"J1": 2, "J2": 3, "J3": 3, "J9": 2})
    m = loads.matrix
    assert m.shape == (4, 24)
    # bus 1: no case load, no feeders -> 0; bus 4: no feeders -> its case load every hour
    assert np.array_equal(m[0], np.zeros(24))
    assert np.array_equal(m[3], np.full(24, 7.0))
    # bus 2: J1 = 1 (h < 12) / 3 (h >= 12), mean 2 -> 10 * 0.5 = 5 and 10 * 1.5 = 15
    assert np.allclose(m[1], [5.0] * 12 + [15.0] * 12, rtol=0, atol=1e-12)
    # bus 3: J2 + J3 = 2 every hour (hour 7: 0 + 2), hour 5: 2 + 48 = 50; mean 96/24 = 4
    expected = np.full(24, 15.0)
    expected[5] = 375.0
    assert np.allclose(m[2], expected, rtol=0, atol=1e-12)
    # each bus keeps its case energy over the day
    assert np.allclose(m.sum(axis=1), 24 * net.bus["pd_mw"].to_numpy())
    assert loads.unmapped == ["J4"]
    assert loads.assignment.to_dict("list") == {"feeder": ["J1", "J2", "J3"], "bus": [2, 3, 3]}
    table = loads.table()
    assert list(table.columns) == ["timestamp", "bus", "load_mw"] and len(table) == 96
    assert str(table["timestamp"].dtype) == "datetime64[us, UTC]"
    assert table["timestamp"].iloc[4] == pd.Timestamp(f"{DAY} 01:00", tz="UTC") and table["bus"].iloc[4] == 1
    at_five = table["timestamp"] == pd.Timestamp(f"{DAY} 05:00", tz="UTC")
    assert table.loc[(table["bus"] == 3) & at_five, "load_mw"].item() == pytest.approx(375.0)


def test_spread_rule_deals_sorted_feeders_over_load_buses():
    net = small_network()
    assert spread_mapping(["J3", "J1", "J2", "J5", "J4"], net) == {"J1": 2, "J2": 3, "J3": 4, "J4": 2, "J5": 3}
    loads = map_feeders_to_buses(net, aggregates(), DAY)  # spread: J1 -> 2, J2 -> 3, J3 -> 4, J4 -> 2
    assert loads.unmapped == []
    j1_j4 = np.array([1.0 + 5.0] * 12 + [3.0 + 5.0] * 12)
    assert np.allclose(loads.matrix[1], 10.0 * j1_j4 / j1_j4.mean())


def test_feeders_drawing_nothing_leave_the_case_load():
    agg = aggregates()
    agg.loc[agg["feeder"] == "J1", "kwh"] = 0.0
    loads = map_feeders_to_buses(small_network(), agg, DAY, {"J1": 2})
    assert np.array_equal(loads.matrix[1], np.full(24, 10.0))


@pytest.mark.parametrize(
    ("mapping", "message"),
    [({"J1": 1}, "feeder J1 is mapped to bus 1, which has no case load"), ({"J1": 99}, "unknown bus id(s) [99]")],
)
def test_bad_mappings_are_refused(mapping, message):
    with pytest.raises(MappingError, match=re.escape(message)):
        map_feeders_to_buses(small_network(), aggregates(), DAY, mapping)


def test_a_feeder_is_the_sum_of_its_junctions_and_rows_under_no_feeder_are_reported():
    hours = day_hours(DAY)
    rows = []
    for i, t in enumerate(hours):
        rows += [(t, "TR1", "J1", "A", 1.0), (t, "TR1", "J2", "B", 1.0 + (i >= 12)), (t, None, "JX", "C", 4.0)]
    agg = pd.DataFrame(rows, columns=["timestamp", "feeder", "junction", "phase", "kwh"])
    agg["feeder"] = agg["feeder"].astype("str")
    loads = map_feeders_to_buses(small_network(), agg, DAY, {"TR1": 3})
    shape = np.array([2.0] * 12 + [3.0] * 12)  # J1 + J2
    assert np.allclose(loads.matrix[2], 30.0 * shape / shape.mean())
    assert loads.assignment.to_dict("list") == {"feeder": ["TR1"], "bus": [3]}
    assert loads.unmapped == [] and loads.kwh_outside_feeders == pytest.approx(24 * 4.0)
