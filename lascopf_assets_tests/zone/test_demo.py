"""Demo zone generator: contracts of the written files, ground truth, determinism, realism."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lascopf_assets.lib.zone.demo import (
    DemoZoneParams,
    generate_demo_zone,
    mean_hourly_imbalance,
    write_demo_zone,
)
from lascopf_assets.lib.zone.topology import (
    build_topology,
    downstream,
    junctions,
    meters_by_junction,
    read_topology,
)

SMALL = DemoZoneParams(junctions=6, meters_per_junction=(3, 8), days=3, seed=3, missing_rate=0.01, replacements=2)


@pytest.fixture(scope="module")
def small_zone():
    return generate_demo_zone(SMALL)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("zone_csv")
    return write_demo_zone(out, SMALL)


def slot_counts(meter_junction: dict[str, str]) -> pd.Series:
    """Meters per junction, not counting the replacement ids."""
    return pd.Series([j for m, j in meter_junction.items() if not m.endswith("R")]).value_counts()


# ----------------------------------------------------------------- topology truth


@pytest.mark.parametrize(
    "params",
    [SMALL, DemoZoneParams(days=1, seed=11), DemoZoneParams(junctions=100, total_meters=2000, days=1, seed=5)],
    ids=["small", "default-40", "100j-2000m"],
)
def test_detected_junctions_and_meters_match_generator_truth(params):
    zone = generate_demo_zone(params)
    topo = build_topology(zone.topology)
    detected = junctions(topo)
    assert dict(zip(detected["junction"], detected["phase"])) == zone.junction_phase
    meters = meters_by_junction(topo)
    assert dict(zip(meters["meter_id"], meters["junction"])) == zone.meter_junction
    assert set(meters["phase"]) <= {"A", "B", "C"}
    assert topo.unreached == []
    # Every junction's downstream meters are exactly the ones the generator hung there.
    j = detected["junction"].iloc[0]
    under = {e for e in zone.topology.loc[zone.topology["type"] == "meter", "grid_element_id"]
             if e in set(downstream(topo, j))}
    assert under == {m for m, jj in zone.meter_junction.items() if jj == j}


def test_topology_file_shape(written):
    topo = read_topology(written.topology_path)
    frame = topo.elements
    assert list(frame.columns) == ["grid_element_id", "type", "phases", "terminal1_cn", "terminal2_cn"]
    assert set(frame["type"]) == {"transformer", "busbar", "line", "meter"}
    tr = frame[frame["type"] == "transformer"]
    assert len(tr) == 1 and tr["phases"].item() == "ABC" and topo.source_cns == (tr["terminal1_cn"].item(),)
    backbone = frame[frame["type"].isin(["busbar", "transformer"])]
    assert set(backbone["phases"]) == {"ABC"}
    meters = frame[frame["type"] == "meter"]
    assert set(meters["phases"]) <= {"A", "B", "C"} and (meters["terminal2_cn"] == "").all()
    # Laterals are 1-3 single-phase segments starting with the junction.
    lateral = frame[(frame["type"] == "line") & (frame["phases"] != "ABC")]
    per_junction = lateral["grid_element_id"].str.split("-").str[0].value_counts()
    assert set(per_junction.index) == set(written.junction_phase)
    assert per_junction.between(1, 3).all()
    assert written.meters == len(meters)


# --------------------------------------------------------------------- sizes, params


def test_sizes_and_params_are_honoured(small_zone):
    counts = slot_counts(small_zone.meter_junction)
    assert len(small_zone.junction_phase) == 6 and len(counts) == 6
    assert counts.between(3, 8).all()
    ts = small_zone.readings["timestamp"]
    assert ts.min() == pd.Timestamp("2023-01-01T00:00:00Z")
    assert ts.max() == pd.Timestamp("2023-01-03T23:00:00Z")
    assert ts.nunique() == 72


def test_total_meters_overrides_range_and_start_is_honoured():
    zone = generate_demo_zone(DemoZoneParams(junctions=7, total_meters=123, days=1, start=dt.date(2024, 2, 29)))
    counts = slot_counts(zone.meter_junction)
    assert counts.sum() == 123 and len(counts) == 7 and (counts >= 1).all()
    assert set(zone.readings["timestamp"].dt.date) == {dt.date(2024, 2, 29)}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"junctions": 0}, "junctions must be >= 1"),
        ({"meters_per_junction": (5, 2)}, "meters_per_junction"),
        ({"junctions": 10, "total_meters": 5}, "total_meters (5) must be >= junctions (10)"),
        ({"days": 0}, "days must be >= 1"),
        ({"missing_rate": 0.7}, "missing_rate"),
    ],
)
def test_bad_params_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DemoZoneParams(**kwargs)


# ------------------------------------------------------------------- file contracts


def test_csv_files_follow_the_landing_contract(written):
    names = [p.name for p in written.paths]
    assert names == [f"meter_readings_2023-01-0{d}.csv" for d in (1, 2, 3)]
    assert written.files == 3 and all(p.parent.name == "landing" for p in written.paths)
    line_re = re.compile(r"^MTR\d{5}R?,2023-01-0\dT\d\d:00:00\+00:00,\d+\.\d{4}$")
    total = 0
    for d, path in enumerate(written.paths, start=1):
        lines = path.read_text().splitlines()
        assert lines[0] == "meter_id,timestamp,kwh"
        bad = [ln for ln in lines[1:] if not line_re.match(ln)]
        assert bad == []
        assert {ln.split(",")[1][:10] for ln in lines[1:]} == {f"2023-01-0{d}"}
        total += len(lines) - 1
    assert total == written.rows


def test_csv_rows_are_sorted_by_timestamp_then_meter(written):
    frame = pd.read_csv(written.paths[1], dtype={"meter_id": "str", "timestamp": "str"})
    keys = list(zip(frame["timestamp"], frame["meter_id"]))
    assert keys == sorted(keys)
    assert not frame.duplicated(["timestamp", "meter_id"]).any()


def test_csv_equals_in_memory_and_parquet(written, small_zone, tmp_path):
    csv = pd.concat([pd.read_csv(p, dtype={"meter_id": "str"}) for p in written.paths], ignore_index=True)
    csv["timestamp"] = pd.to_datetime(csv["timestamp"], format="ISO8601", utc=True).astype("datetime64[us, UTC]")
    mem = small_zone.readings
    assert (csv["meter_id"].to_numpy() == mem["meter_id"].to_numpy()).all()
    assert (csv["timestamp"].to_numpy() == mem["timestamp"].to_numpy()).all()
    np.testing.assert_allclose(csv["kwh"].to_numpy(), mem["kwh"].to_numpy(), atol=5e-5, rtol=0)

    pq_summary = write_demo_zone(tmp_path, SMALL, fmt="parquet")
    assert [p.suffix for p in pq_summary.paths] == [".parquet"] * 3
    table = pa.concat_tables([pq.read_table(p) for p in pq_summary.paths])
    assert table.schema.field("meter_id").type in (pa.string(), pa.large_string())
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("kwh").type == pa.float64()
    assert table.column_names == ["meter_id", "timestamp", "kwh"]
    assert table.num_rows == pq_summary.rows == written.rows
    np.testing.assert_allclose(table.column("kwh").to_numpy(), csv["kwh"].to_numpy(), atol=5e-5, rtol=0)


def test_unknown_format_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="fmt must be 'csv' or 'parquet', got 'xlsx'"):
        write_demo_zone(tmp_path, SMALL, fmt="xlsx")


# ----------------------------------------------------------------------- determinism


def test_same_seed_same_bytes_different_seed_different(tmp_path):
    params = DemoZoneParams(junctions=5, days=2, seed=21)
    a = write_demo_zone(tmp_path / "a", params)
    b = write_demo_zone(tmp_path / "b", params)
    c = write_demo_zone(tmp_path / "c", DemoZoneParams(junctions=5, days=2, seed=22))
    for pa_, pb in zip([*a.paths, a.topology_path], [*b.paths, b.topology_path]):
        assert pa_.read_bytes() == pb.read_bytes(), pa_.name
    assert a.paths[0].read_bytes() != c.paths[0].read_bytes()
    assert a.topology_path.read_bytes() != c.topology_path.read_bytes()


def test_topology_does_not_depend_on_the_number_of_days():
    short = generate_demo_zone(DemoZoneParams(junctions=5, days=1, seed=4, replacements=0))
    longer = generate_demo_zone(DemoZoneParams(junctions=5, days=4, seed=4, replacements=0))
    pd.testing.assert_frame_equal(short.topology, longer.topology)


# ------------------------------------------------------- missing rows, replacements


def test_missing_readings_are_absent_rows(small_zone):
    r = small_zone.readings
    reporting = r.groupby("meter_id")["timestamp"].agg(["min", "max", "count"])
    span_hours = (reporting["max"] - reporting["min"]) / pd.Timedelta(hours=1) + 1
    gaps = reporting[reporting["count"] < span_hours]
    assert len(gaps) > 0  # some meters miss hours between their first and last reading
    assert not r.duplicated(["meter_id", "timestamp"]).any()
    assert r["kwh"].notna().all() and (r["kwh"] >= 0).all()


def test_replacement_hands_over_at_one_hour_on_the_same_node(small_zone):
    rep = small_zone.replacements
    assert len(rep) == 2
    r = small_zone.readings
    topo = small_zone.topology.set_index("grid_element_id")
    for old, new, at in rep.itertuples(index=False):
        old_ts = r.loc[r["meter_id"] == old, "timestamp"]
        new_ts = r.loc[r["meter_id"] == new, "timestamp"]
        assert old_ts.max() < at <= new_ts.min()
        assert new_ts.min() - at < pd.Timedelta(hours=6)  # starts at `at` unless that hour is missing
        assert topo.loc[old, "terminal1_cn"] == topo.loc[new, "terminal1_cn"]
        assert small_zone.meter_junction[old] == small_zone.meter_junction[new]


# ------------------------------------------------------------ realism and imbalance


def test_imbalance_metric_on_hand_made_readings():
    ts = pd.to_datetime(["2023-01-01T00:00Z"] * 3 + ["2023-01-01T01:00Z"] * 3 + ["2023-01-01T01:00Z"]).astype(
        "datetime64[us, UTC]"
    )
    readings = pd.DataFrame(
        {"meter_id": ["a", "b", "c", "a", "b", "c", "x"], "timestamp": ts, "kwh": [3.0, 1.0, 2.0, 1, 1, 1, 50]}
    )
    # Hour 0: loads (3, 1, 2), mean 2, max dev 1 -> 0.5; hour 1: balanced -> 0; "x" is unmapped.
    assert mean_hourly_imbalance(readings, {"a": "A", "b": "B", "c": "C"}) == pytest.approx(0.25)


def test_default_zone_imbalance_is_about_the_studys_figure():
    zone = generate_demo_zone(DemoZoneParams(days=14))
    meter_phase = {m: zone.junction_phase[j] for m, j in zone.meter_junction.items()}
    figure = mean_hourly_imbalance(zone.readings, meter_phase)
    assert 0.5 <= figure <= 0.7, figure
    balanced = generate_demo_zone(DemoZoneParams(days=14, imbalance=0.0))
    meter_phase = {m: balanced.junction_phase[j] for m, j in balanced.meter_junction.items()}
    assert mean_hourly_imbalance(balanced.readings, meter_phase) < 0.25


def test_load_shapes_have_evening_and_winter_peaks():
    zone = generate_demo_zone(DemoZoneParams(junctions=4, total_meters=80, days=365, seed=9))
    r = zone.readings
    by_hour = r.groupby(r["timestamp"].dt.hour)["kwh"].mean()
    assert by_hour.loc[18:20].mean() > 1.5 * by_hour.loc[2:4].mean()
    by_month = r.groupby(r["timestamp"].dt.month)["kwh"].mean()
    assert by_month.loc[1] > 1.1 * by_month.loc[4]
    assert by_month.loc[7] > by_month.loc[4]
    assert r["kwh"].std() > 0.1 * r["kwh"].mean()  # noisy, not a flat template


def test_commercial_meters_drop_at_weekends_residential_do_not():
    zone = generate_demo_zone(DemoZoneParams(junctions=5, total_meters=150, days=28, seed=2, commercial_share=0.3))
    r = zone.readings
    kind = r["meter_id"].map(zone.meter_kind)
    assert set(kind) == {"residential", "commercial"}
    office_hours = r["timestamp"].dt.hour.between(9, 15)
    weekend = r["timestamp"].dt.day_of_week >= 5
    com = r["kwh"][office_hours & (kind == "commercial")]
    res = r["kwh"][office_hours & (kind == "residential")]
    assert com[~weekend].mean() > 2.0 * com[weekend].mean()
    assert 0.8 < res[~weekend].mean() / res[weekend].mean() < 1.25


def test_glitches_append_one_bad_line_each_and_only_to_csv(tmp_path):
    import pytest as _pytest

    from lascopf_assets.lib.zone.demo import GLITCH_KINDS, DemoZoneParams, write_demo_zone

    params = DemoZoneParams(junctions=3, meters_per_junction=(2, 3), days=2, glitches=7)
    summary = write_demo_zone(tmp_path / "z", params)
    assert [kind for _, kind in summary.glitches] == [*GLITCH_KINDS, GLITCH_KINDS[0]]
    lines = sum(len(p.read_text().splitlines()) - 1 for p in summary.paths)
    assert lines == summary.rows + 7
    with _pytest.raises(ValueError, match="CSV landing files only"):
        write_demo_zone(tmp_path / "p", params, fmt="parquet")
