"""Demo zones of several feeders: one source transformer each, ids, ground truth, skews, determinism."""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from lascopf_assets.lib.zone.demo import (
    DemoZoneParams,
    generate_demo_zone,
    imbalance_by_feeder,
    mean_hourly_imbalance,
    write_demo_zone,
)
from lascopf_assets.lib.zone.topology import build_topology, junctions, meters_by_junction

FEEDERS = DemoZoneParams(
    feeders=3, feeder_junctions=(7, 4, 5), meters_per_junction=(2, 6), days=2, seed=13, replacements=3
)


@pytest.fixture(scope="module")
def zone():
    return generate_demo_zone(FEEDERS)


def sources_reaching(topology: pd.DataFrame) -> dict[str, set[str]]:
    """Element id -> the source transformers it is reached from, flooding the rows from each source alone.

    A source transformer is one whose ``terminal1_cn`` touches no other element;
    the flood starts at its ``terminal2_cn`` and never enters its source node.
    """
    at_node: dict[str, list[int]] = defaultdict(list)
    rows = list(topology[["grid_element_id", "type", "terminal1_cn", "terminal2_cn"]].itertuples(index=False))
    for i, (_, _, t1, t2) in enumerate(rows):
        at_node[t1].append(i)
        if t2:
            at_node[t2].append(i)
    reached: dict[str, set[str]] = defaultdict(set)
    for source, etype, t1, t2 in rows:
        if etype != "transformer" or len(at_node[t1]) != 1:
            continue
        reached[source].add(source)
        seen_nodes, stack = {t1, t2}, [t2]
        while stack:
            for i in at_node[stack.pop()]:
                eid, _, a, b = rows[i]
                reached[eid].add(source)
                for node in (a, b):
                    if node and node not in seen_nodes:
                        seen_nodes.add(node)
                        stack.append(node)
    return reached


def root_of(topology, element_id: str) -> str:
    """The element ``element_id`` is fed from at the top: its ``parent`` chain followed to the end."""
    i = topology.index[element_id]
    while topology.parent[i] >= 0:
        i = topology.parent[i]
    return topology.ids[i]


# ------------------------------------------------------------------ one source per feeder


def test_every_element_lies_under_exactly_one_source_transformer(zone):
    reached = sources_reaching(zone.topology)
    transformers = zone.topology.loc[zone.topology["type"] == "transformer", "grid_element_id"].tolist()
    assert transformers == ["TR1", "TR2", "TR3"]
    assert set(reached) == set(zone.topology["grid_element_id"])
    assert {eid: len(s) for eid, s in reached.items() if len(s) != 1} == {}
    feeder_of = {eid: next(iter(s)) for eid, s in reached.items()}
    assert {j: feeder_of[j] for j in zone.junction_phase} == zone.junction_feeder
    assert {m: feeder_of[m] for m in zone.meter_junction} == zone.meter_feeder


def test_the_topology_reader_finds_each_feeder_as_a_source_and_agrees(zone):
    topo = build_topology(zone.topology)
    assert len(topo.source_cns) == 3 and topo.unreached == []
    assert {j: root_of(topo, j) for j in zone.junction_phase} == zone.junction_feeder
    assert {m: root_of(topo, m) for m in zone.meter_junction} == zone.meter_feeder
    detected = junctions(topo)
    assert dict(zip(detected["junction"], detected["phase"])) == zone.junction_phase
    meters = meters_by_junction(topo)
    assert dict(zip(meters["meter_id"], meters["junction"])) == zone.meter_junction


def test_junctions_are_counted_per_feeder(zone):
    per_feeder = pd.Series(zone.junction_feeder).value_counts().to_dict()
    assert per_feeder == {"TR1": 7, "TR2": 4, "TR3": 5}
    assert FEEDERS.total_junctions == 16 == len(zone.junction_phase)
    same = DemoZoneParams(feeders=3, junctions=4, days=1)
    assert same.junctions_per_feeder == (4, 4, 4) and same.total_junctions == 12
    split = generate_demo_zone(DemoZoneParams(feeders=2, junctions=3, total_meters=50, days=1, seed=2))
    assert len(split.junction_phase) == 6
    assert sum(not m.endswith("R") for m in split.meter_junction) == 50


# ----------------------------------------------------------------------------- element ids


def test_ids_are_prefixed_by_feeder_and_meters_numbered_over_the_zone(zone):
    frame = zone.topology
    ids = frame["grid_element_id"]
    assert ids.is_unique
    feeder_of = {eid: next(iter(s)) for eid, s in sources_reaching(frame).items()}
    other = frame[~frame["type"].isin(["transformer", "meter"])]
    for eid in other["grid_element_id"]:
        assert eid.startswith(f"F{feeder_of[eid][2:]}-"), eid
    assert all(re.fullmatch(r"F[123]-J\d{3}", j) for j in zone.junction_phase)
    nodes = pd.concat([frame["terminal1_cn"], frame["terminal2_cn"]])
    assert nodes[nodes != ""].str.fullmatch(r"F[123]-CN\d{5}").all()
    first_meters = [m for m in frame.loc[frame["type"] == "meter", "grid_element_id"] if not m.endswith("R")]
    assert first_meters == [f"MTR{i:05d}" for i in range(1, len(first_meters) + 1)]  # in feeder, then junction order


def test_feeder_numbers_are_padded_to_the_width_of_the_feeder_count():
    zone = generate_demo_zone(DemoZoneParams(feeders=12, junctions=1, meters_per_junction=(1, 2), days=1))
    transformers = zone.topology.loc[zone.topology["type"] == "transformer", "grid_element_id"].tolist()
    assert transformers == [f"TR{f:02d}" for f in range(1, 13)]
    assert sorted(zone.junction_phase) == [f"F{f:02d}-J001" for f in range(1, 13)]
    assert zone.junction_feeder["F07-J001"] == "TR07"


# ------------------------------------------------------------------------ per-feeder skews


def test_default_skews_fall_from_the_first_feeder_to_the_last():
    params = DemoZoneParams(feeders=4, imbalance=0.5)
    assert params.feeder_skews == pytest.approx((0.5, 0.4, 0.3, 0.2))
    assert DemoZoneParams().feeder_skews == (0.6,)
    assert DemoZoneParams(feeders=2, feeder_imbalance=[0.1, 0.3]).feeder_skews == (0.1, 0.3)


@pytest.mark.parametrize("skews", [None, (0.1, 0.7, 0.4)], ids=["default", "explicit"])
def test_each_feeder_lands_near_its_own_skew(skews):
    params = DemoZoneParams(feeders=3, junctions=30, days=7, seed=5, feeder_imbalance=skews)
    zone = generate_demo_zone(params)
    figures = imbalance_by_feeder(zone.readings, zone.meter_phase, zone.meter_feeder)
    assert list(figures) == ["TR1", "TR2", "TR3"]
    values = np.array(list(figures.values()))
    assert list(np.argsort(values)) == list(np.argsort(params.feeder_skews))
    np.testing.assert_allclose(values, params.feeder_skews, atol=0.1)
    # The zone-wide figure is its own thing: the feeders' phases add up across feeders.
    assert mean_hourly_imbalance(zone.readings, zone.meter_phase) < values.max()


def test_imbalance_by_feeder_on_hand_made_readings():
    ts = pd.to_datetime(["2023-01-01T00:00Z"] * 6 + ["2023-01-01T01:00Z"] * 3).astype("datetime64[us, UTC]")
    readings = pd.DataFrame(
        {
            "meter_id": ["a", "b", "c", "d", "e", "x", "a", "b", "c"],
            "timestamp": ts,
            "kwh": [3.0, 1.0, 2.0, 1.0, 1.0, 9.0, 1.0, 1.0, 1.0],
        }
    )
    phase = {"a": "A", "b": "B", "c": "C", "d": "A", "e": "B", "f": "C"}
    feeder = {"a": "TR1", "b": "TR1", "c": "TR1", "d": "TR2", "e": "TR2", "f": "TR2"}
    # TR1: hour 0 (3, 1, 2) -> 1/2, hour 1 balanced -> 0: mean 0.25. TR2: hour 0 (1, 1, 0), mean 2/3, C 2/3
    # below it -> 1.0; no load in hour 1, skipped. "x" has neither phase nor feeder and is ignored.
    assert imbalance_by_feeder(readings, phase, feeder) == pytest.approx({"TR1": 0.25, "TR2": 1.0})
    one = {m: "TR1" for m in phase}
    assert imbalance_by_feeder(readings, phase, one)["TR1"] == mean_hourly_imbalance(readings, phase)
    with pytest.raises(ValueError, match="no load on any phase of feeder TR3"):
        imbalance_by_feeder(readings, phase, {**feeder, "z": "TR3"})


# ------------------------------------------------------------------ params and determinism


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"feeders": 0}, "feeders must be an integer >= 1, got 0"),
        ({"feeders": 2, "feeder_junctions": (3,)}, "feeder_junctions needs one value per feeder (2), got 1: (3,)"),
        ({"feeders": 2, "feeder_junctions": (3, 0)}, "feeder_junctions must all be integers >= 1, got (3, 0)"),
        ({"feeders": 3, "feeder_imbalance": (0.1, 0.2)}, "feeder_imbalance needs one value per feeder (3), got 2"),
        ({"feeders": 2, "feeder_imbalance": (0.1, 2.0)}, "feeder_imbalance must all be in [0, 1.4], got (0.1, 2.0)"),
        ({"feeders": 2, "junctions": 5, "total_meters": 8}, "total_meters (8) must be >= junctions (10 over 2 feeders)"),
    ],
)
def test_bad_feeder_params_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DemoZoneParams(**kwargs)


def file_bytes(summary) -> list[bytes]:
    return [p.read_bytes() for p in [*summary.paths, summary.topology_path]]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_one_feeder_is_byte_identical_to_the_default(tmp_path, fmt):
    base = dict(junctions=5, meters_per_junction=(3, 7), days=2, seed=21, replacements=2)
    default = write_demo_zone(tmp_path / "default", DemoZoneParams(**base), fmt=fmt)
    explicit = DemoZoneParams(**base, feeders=1, feeder_junctions=(5,), feeder_imbalance=(0.6,))
    assert file_bytes(write_demo_zone(tmp_path / "explicit", explicit, fmt=fmt)) == file_bytes(default)
    assert set(default.feeders) == {"TR1"} and set(default.junction_feeder.values()) == {"TR1"}
    assert sorted(default.junction_phase) == [f"J{j:03d}" for j in range(1, 6)]  # the one-feeder ids, unprefixed


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_several_feeders_same_params_same_bytes(tmp_path, fmt):
    a = write_demo_zone(tmp_path / "a", FEEDERS, fmt=fmt)
    b = write_demo_zone(tmp_path / "b", FEEDERS, fmt=fmt)
    assert file_bytes(a) == file_bytes(b)
    assert a.junction_feeder == b.junction_feeder and a.feeders == ["TR1", "TR2", "TR3"]
    other = write_demo_zone(tmp_path / "c", dataclasses.replace(FEEDERS, seed=14), fmt=fmt)
    assert file_bytes(other)[0] != file_bytes(a)[0] and file_bytes(other)[-1] != file_bytes(a)[-1]


def test_written_ground_truth_equals_the_in_memory_zone(tmp_path, zone):
    summary = write_demo_zone(tmp_path, FEEDERS)
    assert summary.junction_feeder == zone.junction_feeder
    assert summary.junction_phase == zone.junction_phase and summary.meter_junction == zone.meter_junction
    assert summary.junctions == 16 and summary.meters == len(zone.meter_junction)
