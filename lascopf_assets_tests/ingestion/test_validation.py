"""Validation rules: each rule quarantines exactly the rows that break it; counts always add up."""

import numpy as np
import pandas as pd
import pytest

from lascopf_assets.lib.ingest.aggregation import aggregate_by_junction
from lascopf_assets.lib.ingest.landing import read_landing_file
from lascopf_assets.lib.ingest.validation import validate_readings, voltage_share_in_band

METERS = pd.DataFrame({"meter_id": ["m1", "m2", "m3"], "junction": ["J1", "J1", "J2"], "phase": ["A", "A", "C"]})


def readings(tmp_path, lines, header="meter_id,timestamp,kwh"):
    path = tmp_path / "r.csv"
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    return read_landing_file(path)


@pytest.mark.parametrize(
    "line,rule",
    [
        ("m9,2023-01-01T01:00:00Z,1", "meter_unknown"),
        ("m2,2023-01-01T01:00:00Z,-0.5", "kwh_negative"),
        ("m2,2023-01-01T01:00:00Z,inf", "kwh_not_finite"),
        ("m2,2023-01-01T01:00:00Z,nan", "kwh_not_finite"),
        ("m2,2023-01-01T01:15:00Z,1", "timestamp_off_interval"),  # a single reading: hourly, so off its grid
        ("m2,2023-01-01T01:00:00,1", "timestamp_without_utc_offset"),
        ("m2,2023-01-01T01:00:00Z,one", "kwh_not_numeric"),
        ("m1,2023-01-01T00:00:00Z,9", "duplicate_reading"),  # another kwh for the same meter and timestamp
    ],
)
def test_each_rule_quarantines_its_row(tmp_path, line, rule):
    raw = readings(tmp_path, ["m1,2023-01-01T00:00:00Z,1", line])
    result = validate_readings(raw, METERS)
    assert result.rows_valid == 1 and result.rows_quarantined == 1
    q = result.quarantine.iloc[0]
    assert q["rule"] == rule and q["source_row"] == 3 and q["reason"]
    assert result.valid["kwh"].tolist() == [1.0]  # the first reading of the hour is the one kept


def test_valid_rows_get_junction_and_phase_and_counts_add_up(tmp_path):
    raw = readings(tmp_path, [
        "m1,2023-01-01T00:00:00Z,1", "m2,2023-01-01T00:00:00Z,2", "m3,2023-01-01T00:00:00Z,4",
        "m3,2023-01-01T00:00:00Z,5", "m4,2023-01-01T00:00:00Z,1", "m1,2023-01-01T01:00:00Z,-1",
    ])
    result = validate_readings(raw, METERS)
    assert result.rows_in == 6 == result.rows_valid + result.rows_quarantined
    assert result.counts_by_rule() == {"meter_unknown": 1, "kwh_negative": 1, "duplicate_reading": 1}
    assert result.valid[["meter_id", "junction", "phase"]].values.tolist() == [["m1", "J1", "A"], ["m2", "J1", "A"], ["m3", "J2", "C"]]
    agg = aggregate_by_junction(result.valid)
    assert agg[["junction", "phase", "kwh", "meters"]].values.tolist() == [["J1", "A", 3.0, 2], ["J2", "C", 4.0, 1]]


def test_duplicate_of_an_invalid_row_is_not_punished(tmp_path):
    # the first reading of m1 at 00:00 is negative (quarantined); the second is then the only valid one
    raw = readings(tmp_path, ["m1,2023-01-01T00:00:00Z,-1", "m1,2023-01-01T00:00:00Z,2"])
    result = validate_readings(raw, METERS)
    assert result.valid["kwh"].tolist() == [2.0]
    assert result.quarantine["rule"].tolist() == ["kwh_negative"]


def test_scada_rules(tmp_path):
    header = "meter_id,timestamp,kwh,voltage_pu,power_factor,frequency_hz,active_power_kw"
    raw = readings(tmp_path, [
        "m1,2023-01-01T00:00:00Z,1,1.00,0.95,60.0,1.0",
        "m2,2023-01-01T00:00:00Z,1,1.00,1.20,60.0,1.0",  # pf out of range
        "m3,2023-01-01T00:00:00Z,1,1.00,0.90,61.0,1.0",  # frequency out of band
        "m1,2023-01-01T01:00:00Z,1,0.90,0.90,60.0,",  # active power missing
        "m2,2023-01-01T01:00:00Z,1,0.90,0.90,60.0,1.0",  # voltage low: kept, judged by the dataset check
    ], header=header)
    result = validate_readings(raw, METERS)
    assert result.quarantine["rule"].tolist() == ["power_factor_out_of_range", "frequency_out_of_range", "active_power_missing"]
    assert result.rows_valid == 2
    assert voltage_share_in_band(result.valid) == pytest.approx(0.5)
    assert voltage_share_in_band(result.valid.drop(columns="voltage_pu")) is None


def test_vectorized_on_a_large_day(tmp_path):
    n_meters, hours = 2000, 24
    ts = pd.date_range("2023-01-01", periods=hours, freq="h", tz="UTC").as_unit("us")
    meters = pd.DataFrame({"meter_id": [f"m{i}" for i in range(n_meters)], "junction": "J", "phase": "B"})
    raw = pd.DataFrame({
        "meter_id": pd.Series(np.tile(meters["meter_id"], hours), dtype="str"),
        "timestamp": np.repeat(ts, n_meters),
        "kwh": np.random.default_rng(1).random(n_meters * hours),
        "parse_error": pd.Series([None] * (n_meters * hours), dtype="str"),
        "source_file": "f.csv",
        "source_row": np.arange(n_meters * hours, dtype=np.int64),
    })
    raw.loc[[5, 500], "kwh"] = -1
    result = validate_readings(raw, meters)
    assert result.rows_quarantined == 2 and result.rows_valid == n_meters * hours - 2


def test_empty_quarantine_keeps_typed_columns(tmp_path):
    result = validate_readings(readings(tmp_path, ["m1,2023-01-01T00:00:00Z,1"]), METERS)
    assert result.rows_quarantined == 0
    assert result.quarantine["rule"].dtype == "str" and result.quarantine["reason"].dtype == "str"


def test_meters_under_a_multi_phase_junction_are_refused_with_their_names(tmp_path):
    meters = pd.DataFrame({"meter_id": ["m1", "m2"], "junction": ["J1", "J2"], "phase": ["A", "AB"]})
    with pytest.raises(ValueError, match=r"single-phase junction .*m2 \(AB\)"):
        validate_readings(readings(tmp_path, ["m1,2023-01-01T00:00:00Z,1"]), meters)


def test_a_validator_keeps_a_few_versions_and_judges_every_day_alike(tmp_path):
    from lascopf_assets.lib.ingest.validation import TopologyValidator, validate_by_topology_version
    from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone
    from lascopf_assets.lib.zone.versions import versioned_topology

    summary = write_demo_zone(tmp_path, DemoZoneParams(junctions=3, meters_per_junction=(2, 3), days=3, seed=4))
    lines = summary.topology_path.read_text().splitlines()
    gone = next(line for line in lines if ",meter," in line)
    (summary.topology_path.parent / "grid_topology_2023-01-02.csv").write_text("\n".join(x for x in lines if x != gone) + "\n")
    topology = versioned_topology(sorted(summary.topology_path.parent.glob("*.csv")), "2023-01-01")
    days = [read_landing_file(p) for p in summary.paths]
    validator = TopologyValidator(topology, keep_versions=1)  # each day may evict the other version's rules
    for raw in [*days, days[0]]:
        got, want = validator.validate(raw), validate_by_topology_version(raw, topology)
        pd.testing.assert_frame_equal(got.valid, want.valid)
        pd.testing.assert_frame_equal(got.quarantine, want.quarantine)
    assert len(validator._rules) == 1
    raw = pd.concat(days, ignore_index=True)
    meter = gone.split(",")[0]
    later = int(((raw["meter_id"] == meter) & (raw["timestamp"] >= pd.Timestamp("2023-01-02", tz="UTC"))).sum())
    assert later > 0 and validate_by_topology_version(raw, topology).counts_by_rule() == {"meter_unknown": later}


def test_a_validator_passes_its_interval_policy_to_every_version(tmp_path):
    from lascopf_assets.lib.ingest.intervals import IntervalPolicy
    from lascopf_assets.lib.ingest.validation import TopologyValidator
    from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone
    from lascopf_assets.lib.zone.versions import versioned_topology

    summary = write_demo_zone(tmp_path, DemoZoneParams(junctions=3, meters_per_junction=(2, 3), days=1, seed=4, interval_minutes=15))
    topology = versioned_topology(sorted(summary.topology_path.parent.glob("*.csv")), "2023-01-01")
    raw = read_landing_file(summary.paths[0])
    detected = TopologyValidator(topology).validate(raw)
    assert detected.interval_minutes_counts() == {15: raw["meter_id"].nunique()}
    assert detected.rows_valid + detected.rows_quarantined + detected.rows_redelivered == detected.rows_in
    assert set(detected.valid["intervals"]) == {4} and detected.counts_by_rule().keys() <= {"hour_incomplete"}
    declared = TopologyValidator(topology, policy=IntervalPolicy(interval_minutes=15))
    pd.testing.assert_frame_equal(declared.validate(raw).valid, detected.valid)
    hourly = TopologyValidator(topology, policy=IntervalPolicy(interval_minutes=60)).validate(raw)
    assert hourly.counts_by_rule()["timestamp_off_interval"] == 3 * hourly.hours_valid
