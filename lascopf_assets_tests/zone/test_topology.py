"""Topology parsing, tracing, junction detection and versioning on a hand-built grid."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from lascopf_assets.lib.zone.topology import (
    TopologyError,
    build_topology,
    downstream,
    junctions,
    meters_by_junction,
    read_topology,
    register_version,
    topology_version,
    version_at,
)

HEADER = "grid_element_id,type,phases,terminal1_cn,terminal2_cn"
# SRC -TR1- N1 (BB1) -L1- N2 (BB2) -L2- N6
#   N1: JB (B) -> N5: M3
#   N2: JA (A) -> N3: M1, JA2 (A, terminals written reversed) -> N4: M2
#   N6: M4 (three-phase meter on the backbone), LC (C) -> N7: M5
#   ISL: an island not connected to the source
ROWS = [
    "TR1,transformer,ABC,SRC,N1",
    "BB1,busbar,ABC,N1,",
    "L1,line,ABC,N1,N2",
    "BB2,busbar,ABC,N2,",
    "JA,line,A,N2,N3",
    "JA2,line,A,N4,N3",
    "M1,meter,A,N3,",
    "M2,meter,A,N4,",
    "JB,line,B,N1,N5",
    "M3,meter,B,N5,",
    "L2,line,ABC,N2,N6",
    "M4,meter,ABC,N6,",
    "LC,line,C,N6,N7",
    "M5,meter,C,N7,",
    "ISL,line,A,X1,X2",
]


def write(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def topo(tmp_path):
    return read_topology(write(tmp_path / "grid.csv", ROWS))


def test_downstream_traces_away_from_source(topo):
    everything = {r.split(",")[0] for r in ROWS}
    assert set(downstream(topo, "TR1")) == everything - {"TR1", "ISL"}
    assert set(downstream(topo, "L1")) == {"BB2", "JA", "JA2", "M1", "M2", "L2", "M4", "LC", "M5"}
    assert set(downstream(topo, "JA")) == {"JA2", "M1", "M2"}
    assert downstream(topo, "JA2") == ["M2"]
    assert downstream(topo, "M1") == []
    assert downstream(topo, "JA", include_self=True)[0] == "JA"
    assert topo.unreached == ["ISL"]
    assert topo.source_cns == ("SRC",)


def test_downstream_rejects_unknown_and_unfed_elements(topo):
    with pytest.raises(TopologyError, match="unknown grid_element_id 'NOPE'"):
        downstream(topo, "NOPE")
    with pytest.raises(TopologyError, match="'ISL' is not fed from the source"):
        downstream(topo, "ISL")


def test_junctions_are_single_phase_elements_fed_by_abc(topo):
    got = junctions(topo)
    assert list(got.columns) == ["junction", "phase", "feeder_node", "feeder"]
    assert set(map(tuple, got.to_numpy().tolist())) == {
        ("JA", "A", "N2", "TR1"), ("JB", "B", "N1", "TR1"), ("LC", "C", "N6", "TR1")
    }


def test_meters_by_junction_excludes_backbone_meters(topo):
    got = meters_by_junction(topo)
    assert list(got.columns) == ["meter_id", "junction", "phase", "feeder"]
    assert set(map(tuple, got.to_numpy().tolist())) == {
        ("M1", "JA", "A", "TR1"),
        ("M2", "JA", "A", "TR1"),
        ("M3", "JB", "B", "TR1"),
        ("M5", "LC", "C", "TR1"),
    }


def test_row_order_does_not_matter(tmp_path, topo):
    shuffled = ROWS[:]
    random.Random(5).shuffle(shuffled)
    other = read_topology(write(tmp_path / "shuffled.csv", shuffled))
    assert set(downstream(other, "L1")) == set(downstream(topo, "L1"))
    pd.testing.assert_frame_equal(junctions(other), junctions(topo))
    pd.testing.assert_frame_equal(meters_by_junction(other), meters_by_junction(topo))


def test_frame_and_file_give_the_same_model(topo):
    frame = pd.DataFrame([r.split(",") for r in ROWS], columns=HEADER.split(","))
    from_frame = build_topology(frame)
    pd.testing.assert_frame_equal(junctions(from_frame), junctions(topo))
    pd.testing.assert_frame_equal(meters_by_junction(from_frame), meters_by_junction(topo))


def test_two_phase_lateral_under_abc_is_a_junction_but_its_single_phase_child_is_not(tmp_path):
    rows = ["T,transformer,ABC,S,N1", "AB1,line,AB,N1,N2", "A1,line,A,N2,N3", "M,meter,A,N3,"]
    t = read_topology(write(tmp_path / "g.csv", rows))
    assert junctions(t)["junction"].tolist() == ["AB1"]
    assert meters_by_junction(t).to_numpy().tolist() == [["M", "AB1", "AB", "T"]]


@pytest.mark.parametrize(
    ("header", "rows", "line", "reason"),
    [
        ("grid_element_id,type,phases,terminal1_cn", ["T,transformer,ABC,S"], 1, "missing column(s) terminal2_cn"),
        (HEADER, ["T,transformer,ABC,S,N1", "X,switch,ABC,N1,N2"], 3, "unknown type 'switch' for 'X'"),
        (HEADER, ["T,transformer,ABC,S,N1", "X,line,AD,N1,N2"], 3, "bad phases 'AD' for 'X'"),
        (HEADER, ["T,transformer,ABC,S,N1", "X,line,AA,N1,N2"], 3, "bad phases 'AA' for 'X'"),
        (HEADER, ["T,transformer,ABC,S,N1", "X,line,,N1,N2"], 3, "bad phases '' for 'X'"),
        (HEADER, ["T,transformer,ABC,S,N1", "X,line,A,N1,N2", "X,meter,A,N2,"], 4,
         "duplicate grid_element_id 'X' (first on line 3)"),
        (HEADER, ["T,transformer,ABC,S,N1", "M,meter,A,N1,N2"], 3, "meter 'M' has two terminals"),
        (HEADER, ["T,transformer,ABC,S,N1", "X,line,A,N1,"], 3, "line 'X' needs two terminals"),
        (HEADER, ["T,transformer,ABC,S,N1", "X,line,A,,N2"], 3, "line 'X' has no terminal1_cn"),
        (HEADER, ["T,transformer,ABC,S,N1", "X,line,A,N2,N2"], 3, "connects node 'N2' to itself"),
        (HEADER, ["T,transformer,ABC,S,N1", "X,line,A,N1"], 3, "expected 5 fields, got 4"),
        (HEADER, [",line,A,N1,N2"], 2, "empty grid_element_id"),
    ],
)
def test_bad_rows_name_file_line_and_reason(tmp_path, header, rows, line, reason):
    path = write(tmp_path / "bad.csv", rows, header)
    with pytest.raises(TopologyError) as info:
        read_topology(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ")
    assert reason in message
    assert "\n" not in message


def test_line_numbers_count_blank_lines(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text(f"{HEADER}\nT,transformer,ABC,S,N1\n\nX,line,Q,N1,N2\n", encoding="utf-8")
    with pytest.raises(TopologyError, match=r"blank\.csv:4: bad phases 'Q'"):
        read_topology(path)


def test_no_source_transformer_is_an_error(tmp_path):
    # The transformer's primary node is shared with a line: nothing marks the source.
    path = write(tmp_path / "nosrc.csv", ["T,transformer,ABC,S,N1", "X,line,ABC,S,N2"])
    with pytest.raises(TopologyError, match=r"nosrc\.csv: no source"):
        read_topology(path)
    with pytest.raises(TopologyError, match="no source"):
        read_topology(write(tmp_path / "lines.csv", ["X,line,ABC,N1,N2"]))


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(TopologyError, match=r"absent\.csv: cannot read topology file"):
        read_topology(tmp_path / "absent.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(TopologyError, match=r"empty\.csv:1: empty file"):
        read_topology(empty)


def test_versions_change_only_with_content(tmp_path):
    path = write(tmp_path / "grid.csv", ROWS)
    v1 = topology_version(path, "2023-01-01T00:00:00+00:00")
    versions = register_version([], v1)
    assert versions == [v1]
    # Same bytes seen again later: no new version.
    assert register_version(versions, topology_version(path, "2023-02-01")) == [v1]
    # Changed content: a new version.
    write(path, [*ROWS, "M6,meter,C,N7,"])
    v2 = topology_version(path, "2023-03-01")
    assert v2.content_hash != v1.content_hash
    versions = register_version(versions, v2)
    assert versions == [v1, v2]
    assert version_at(versions, "2023-02-28T23:59:59+00:00") == v1
    assert version_at(versions, "2023-03-01T00:00:00Z") == v2
    # Timezone handled: 01:00+02:00 on March 1st is still February 28th in UTC.
    assert version_at(versions, "2023-03-01T01:00:00+02:00") == v1
    assert version_at(list(reversed(versions)), "2024-01-01") == v2
    with pytest.raises(TopologyError, match="no topology version valid at 2022-12-31"):
        version_at(versions, "2022-12-31")
    write(path, [*ROWS, "M7,meter,C,N7,"])
    with pytest.raises(TopologyError, match="two different topology versions"):
        register_version(versions, topology_version(path, "2023-03-01"))
