"""Feeders in the grid model: default heads (source transformers), configured heads, and their errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lascopf_assets.lib.zone.topology import (
    TopologyError,
    build_topology,
    downstream,
    element_feeders,
    junctions,
    meters_by_junction,
    source_transformers,
)
from lascopf_assets.lib.zone.versions import meters_in_force, versioned_topology

HEADER = ["grid_element_id", "type", "phases", "terminal1_cn", "terminal2_cn"]
# Substation S1: TR1 -> N1 (BUS1); two feeder lines out of BUS1: F1 -> N2, F2 -> N3
#   N2: JA (A) -> MA1, MA2;  N3: JB (B) -> MB1 ; N1: JC (C) hanging right at the substation bus -> MC1
# Substation S2: TR2 -> N9: JD (A) -> MD1
ROWS = [
    ("TR1", "transformer", "ABC", "S1", "N1"),
    ("BUS1", "busbar", "ABC", "N1", ""),
    ("F1", "line", "ABC", "N1", "N2"),
    ("F2", "line", "ABC", "N1", "N3"),
    ("JA", "line", "A", "N2", "N4"),
    ("MA1", "meter", "A", "N4", ""),
    ("MA2", "meter", "A", "N4", ""),
    ("JB", "line", "B", "N3", "N5"),
    ("MB1", "meter", "B", "N5", ""),
    ("JC", "line", "C", "N1", "N6"),
    ("MC1", "meter", "C", "N6", ""),
    ("TR2", "transformer", "ABC", "S2", "N9"),
    ("JD", "line", "A", "N9", "N10"),
    ("MD1", "meter", "A", "N10", ""),
]


@pytest.fixture
def topo():
    return build_topology(pd.DataFrame(ROWS, columns=HEADER))


def feeders_of(topo, heads=()):
    return dict(zip(topo.ids, element_feeders(topo, heads)))


def test_each_source_transformer_heads_a_feeder_by_default(topo):
    assert source_transformers(topo) == ["TR1", "TR2"]
    feeder = feeders_of(topo)
    for head in ("TR1", "TR2"):  # the feeder is exactly the head and what it feeds
        assert {e for e, f in feeder.items() if f == head} == {head, *downstream(topo, head)}
    got = junctions(topo).set_index("junction")["feeder"].to_dict()
    assert got == {"JA": "TR1", "JB": "TR1", "JC": "TR1", "JD": "TR2"}


def test_configured_heads_split_a_substation_into_feeders(topo):
    feeder = feeders_of(topo, ["F1", "F2", "TR2"])
    assert feeder["TR1"] is None and feeder["BUS1"] is None  # above every head
    assert feeder["JC"] is None and feeder["MC1"] is None  # a lateral at the substation bus: under no head
    assert {e for e, f in feeder.items() if f == "F1"} == {"F1", "JA", "MA1", "MA2"}
    assert {e for e, f in feeder.items() if f == "F2"} == {"F2", "JB", "MB1"}
    meters = meters_by_junction(topo, ["F1", "F2", "TR2"]).set_index("meter_id")
    assert meters.loc[["MA1", "MA2", "MB1", "MD1"], "feeder"].tolist() == ["F1", "F1", "F2", "TR2"]
    assert pd.isna(meters.loc["MC1", "feeder"])


def test_the_nearest_head_wins(topo):
    feeder = feeders_of(topo, ["TR1", "F2"])
    assert feeder["JA"] == "TR1" and feeder["JC"] == "TR1" and feeder["JB"] == "F2"
    assert feeder["JD"] is None  # TR2 is no head now


@pytest.mark.parametrize(
    ("heads", "reason"),
    [
        (["NOPE"], "feeder head 'NOPE' is not an element"),
        (["JA"], "feeder head 'JA' is not on a three-phase backbone"),
        (["MA1"], "feeder head 'MA1' is not on a three-phase backbone"),
    ],
)
def test_bad_heads_are_refused(topo, heads, reason):
    with pytest.raises(TopologyError, match=reason):
        element_feeders(topo, heads)


def test_an_island_head_is_refused():
    rows = [*ROWS, ("ISL", "line", "ABC", "X1", "X2")]
    with pytest.raises(TopologyError, match="feeder head 'ISL' is not fed from any source"):
        element_feeders(build_topology(pd.DataFrame(rows, columns=HEADER)), ["ISL"])


def _write(path: Path, rows) -> Path:
    pd.DataFrame(rows, columns=HEADER).to_csv(path, index=False)
    return path


def test_versioned_topology_carries_feeders_and_meters_in_force_name_them(tmp_path):
    first = _write(tmp_path / "grid.csv", ROWS)
    moved = [r if r[0] != "JB" else ("JB", "line", "B", "N2", "N5") for r in ROWS]  # JB re-fed from F1's node
    second = _write(tmp_path / "grid_2023-06-01.csv", moved)
    table = versioned_topology([first, second], "2023-01-01", feeder_heads=["F1", "F2", "TR2"])
    assert "feeder" in table.columns
    starts = sorted(table["valid_from"].unique())
    before = meters_in_force(table, starts[0]).set_index("meter_id")["feeder"]
    after = meters_in_force(table, starts[1]).set_index("meter_id")["feeder"]
    assert before["MB1"] == "F2" and after["MB1"] == "F1"
    assert list(meters_in_force(table, starts[0]).columns) == ["meter_id", "feeder", "junction", "phase"]


def test_a_head_missing_from_a_version_names_the_file(tmp_path):
    first = _write(tmp_path / "grid.csv", ROWS)
    without_f2 = _write(tmp_path / "grid_2023-06-01.csv", [r if r[0] != "F2" else ("F2b", *r[1:]) for r in ROWS])
    with pytest.raises(TopologyError, match=r"grid_2023-06-01.csv: feeder head 'F2' is not an element"):
        versioned_topology([first, without_f2], "2023-01-01", feeder_heads=["F1", "F2"])
