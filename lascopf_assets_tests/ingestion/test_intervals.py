"""Sub-hourly readings: interval detection, re-deliveries, the roll-up to hours and gap filling.

Every case also checks the accounting: per source file, rows in == readings in valid hours +
quarantined + re-delivered.
"""

from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest

from lascopf_assets.lib.ingest.aggregation import aggregate_by_junction
from lascopf_assets.lib.ingest.intervals import ACCEPTED_MINUTES, IntervalPolicy, detect_interval_minutes
from lascopf_assets.lib.ingest.landing import read_landing_file
from lascopf_assets.lib.ingest.schemas import VALIDATED_LOADS_SCHEMA
from lascopf_assets.lib.ingest.validation import (
    PER_FILE_COLUMNS,
    MeterRules,
    TopologyValidator,
    ValidationTotals,
    validate_readings,
)

METERS = pd.DataFrame({
    "meter_id": ["m1", "m2", "m3", "m4"], "feeder": "F1", "junction": ["J1", "J1", "J2", "J2"], "phase": ["A", "A", "C", "C"],
})
DAY = pd.Timestamp("2023-03-01", tz="UTC")


def frame(rows, scada=()):
    """Parsed raw rows from ``(meter, "HH:MM[:SS]", kwh[, file][, scada values...])``, lines numbered per file from 2."""
    records = []
    for row in rows:
        meter, clock, kwh, *rest = row
        file = rest.pop(0) if rest and isinstance(rest[0], str) else "meter_readings_2023-03-01.csv"
        records.append({"meter_id": meter, "timestamp": DAY + pd.Timedelta(clock + (":00" if clock.count(":") == 1 else "")),
                        "kwh": float(kwh), **dict(zip(scada, map(float, rest), strict=True)), "source_file": file})
    raw = pd.DataFrame(records)
    raw = raw.sort_values("source_file", kind="stable", ignore_index=True)  # files by name, then line
    raw["meter_id"] = raw["meter_id"].astype("str")
    raw["timestamp"] = raw["timestamp"].astype("datetime64[us, UTC]")
    raw["parse_error"] = pd.Series([None] * len(raw), dtype="str")
    raw["raw_values"] = pd.Series([None] * len(raw), dtype="str")
    raw["source_file"] = raw["source_file"].astype("str")
    raw["source_row"] = (raw.groupby("source_file").cumcount() + 2).astype(np.int64)
    raw["ingested_at"] = DAY
    return raw


def quarter_hours(meter, hours=(0,), skip=(), kwh=0.25, file=None):
    rows = []
    for h in hours:
        for q in range(4):
            if (h, q * 15) not in skip:
                rows.append((meter, f"{h:02d}:{q * 15:02d}", kwh, *([file] if file else [])))
    return rows


def accounted(result, raw):
    """The invariant, overall and per file (recomputed from the raw rows, not taken from the result)."""
    files = result.per_file()
    assert list(files.columns) == PER_FILE_COLUMNS
    assert files["source_file"].tolist() == sorted(raw["source_file"].unique())
    assert files["rows_in"].tolist() == raw.groupby("source_file").size().sort_index().tolist()
    assert (files["rows_in"] == files["rows_valid"] + files["rows_quarantined"] + files["rows_redelivered"]).all()
    q_by_file = result.quarantine.groupby("source_file").size()
    assert files.set_index("source_file")["rows_quarantined"].to_dict() == {f: int(q_by_file.get(f, 0)) for f in files["source_file"]}
    assert result.rows_in == len(raw) == result.rows_valid + result.rows_quarantined + result.rows_redelivered
    assert result.rows_valid == int(result.valid["intervals"].sum()) and result.hours_valid == len(result.valid)
    VALIDATED_LOADS_SCHEMA.validate(result.valid)
    return result


def check(raw, policy=None, meters=METERS):
    return accounted(validate_readings(raw, meters, policy), raw)


# --- detection -------------------------------------------------------------------------------------


def test_each_meter_and_file_gets_its_own_interval():
    rows = [("m1", f"{m // 60:02d}:{m % 60:02d}", 0.1) for m in range(0, 120, 5)]  # 5-minute
    rows += quarter_hours("m2", hours=(0, 1))
    rows += [("m3", f"{h:02d}:{m:02d}", 0.5) for h in (0, 1) for m in (0, 30)]  # 30-minute
    rows += [("m4", f"{h:02d}:00", 1.0) for h in range(3)]  # hourly
    rows += quarter_hours("m4", hours=(5,), file="meter_readings_2023-03-01_ami.csv")  # the same meter, another file
    result = check(frame(rows))
    assert result.rows_quarantined == 0 and result.rows_redelivered == 0
    assert result.interval_minutes_counts() == {5: 1, 15: 2, 30: 1, 60: 1}
    by = result.valid.set_index(["meter_id", "timestamp"])["intervals"]
    assert by[("m1", DAY)] == 12 and by[("m2", DAY)] == 4 and by[("m3", DAY)] == 2 and by[("m4", DAY)] == 1
    assert by[("m4", DAY + pd.Timedelta(hours=5))] == 4
    assert result.valid["kwh"].round(9).tolist() == [1.2, 1.0, 1.0, 1.0, 1.2, 1.0, 1.0, 1.0, 1.0, 1.0]


def test_declared_interval_overrides_detection():
    raw = frame(quarter_hours("m1"))
    hourly = check(raw, IntervalPolicy(interval_minutes=60))
    assert hourly.counts_by_rule() == {"timestamp_off_interval": 3} and hourly.valid["kwh"].tolist() == [0.25]
    assert hourly.interval_minutes_counts() == {60: 1}
    five = check(raw, IntervalPolicy(interval_minutes=5))  # 3 of 12 five-minute intervals
    assert five.counts_by_rule() == {"hour_incomplete": 4}
    assert five.quarantine["reason"].iloc[0].startswith("4 of 12 5-minute intervals present; missing :05, :10, :20, :25,")


def test_ties_go_to_the_larger_interval():
    minutes = np.array([0, 10, 20, 40, 60])  # differences 10, 10, 20, 20: a tie between 10 and 20
    assert detect_interval_minutes(np.zeros(5, dtype=np.int64), minutes * 60_000_000, 1).tolist() == [20]
    # differences that do not divide the hour (7, 45 minutes) are never chosen; a single reading is hourly
    seven = np.arange(6) * 7 * 60_000_000
    pairs = np.array([0] * 6 + [1] + [2, 2])
    assert detect_interval_minutes(pairs, np.concatenate([seven, [0], [0, 45 * 60_000_000]]), 3).tolist() == [60, 60, 60]
    assert sorted(ACCEPTED_MINUTES) == [m for m in range(1, 61) if 60 % m == 0]


def test_a_glitch_reading_is_off_the_grid():
    rows = quarter_hours("m1", hours=(10,)) + [("m1", "10:07", 0.3)]
    rows += [("m2", f"{h:02d}:00", 1.0) for h in range(8)] + [("m2", "05:30", 0.5)]  # hourly meter: 05:30 is off its grid
    result = check(frame(rows))
    assert result.counts_by_rule() == {"timestamp_off_interval": 2}
    assert sorted(result.quarantine["reason"]) == [
        "timestamp 05:30 is not on the meter's 60-minute interval grid",
        "timestamp 10:07 is not on the meter's 15-minute interval grid",
    ]
    assert result.valid.loc[result.valid["meter_id"] == "m1", "kwh"].tolist() == [1.0]  # the hour itself is complete


def test_seconds_are_named_in_the_reason():
    result = check(frame(quarter_hours("m1") + [("m1", "00:15:30", 0.1)]))
    assert result.quarantine["reason"].tolist() == ["timestamp 00:15:30 is not on the meter's 15-minute interval grid"]


# --- hours -----------------------------------------------------------------------------------------


def test_complete_and_incomplete_hours():
    rows = quarter_hours("m1", hours=(0, 1, 2), skip={(1, 30), (2, 15), (2, 30)})
    result = check(frame(rows))
    assert result.valid[["timestamp", "kwh", "intervals", "intervals_estimated"]].values.tolist() == [[DAY, 1.0, 4, 0]]
    assert result.counts_by_rule() == {"hour_incomplete": 5}
    reasons = result.quarantine.groupby(result.quarantine["timestamp"].dt.hour)["reason"].unique()
    assert reasons[1].tolist() == ["3 of 4 15-minute intervals present; missing :30"]
    assert reasons[2].tolist() == ["2 of 4 15-minute intervals present; missing :15, :30"]
    # the valid row carries the hour start and the provenance of its first reading
    assert result.valid[["source_file", "source_row"]].values.tolist() == [["meter_readings_2023-03-01.csv", 2]]


def test_a_quarantined_interval_counts_as_missing():
    rows = quarter_hours("m1") + [("m1", "01:00", 0.2), ("m1", "01:15", -1), ("m1", "01:30", 0.2), ("m1", "01:45", 0.2)]
    result = check(frame(rows))
    assert result.counts_by_rule() == {"kwh_negative": 1, "hour_incomplete": 3}
    assert set(result.quarantine.loc[result.quarantine["rule"] == "hour_incomplete", "reason"]) == {
        "3 of 4 15-minute intervals present; missing :15"}
    filled = check(frame(rows), IntervalPolicy(gap_fill="linear"))
    assert filled.counts_by_rule() == {"kwh_negative": 1} and filled.hours_estimated == 1
    assert filled.valid["kwh"].round(9).tolist() == [1.0, 0.8]


def test_linear_gap_fill_against_a_hand_computation():
    # 5-minute meter, hour 00: present at :00=1, :15=4, :20=2, :50=3; missing :05 :10, :25..:45, :55
    present = {0: 1.0, 15: 4.0, 20: 2.0, 50: 3.0}
    rows = [("m1", f"00:{m:02d}", v) for m, v in present.items()] + [("m1", f"01:{m:02d}", 1.0) for m in range(0, 60, 5)]
    # by hand: :05 = 1 + (4-1)*1/3 = 2, :10 = 3; :25..:45 between 2 (:20) and 3 (:50) in steps of 1/6:
    # 2+1/6, 2+2/6, 2+3/6, 2+4/6, 2+5/6 (sum 12.5); :55 is an edge: the nearest present value, 3
    hand = sum(present.values()) + 2 + 3 + 12.5 + 3
    result = check(frame(rows), IntervalPolicy(gap_fill="linear"))
    assert result.rows_quarantined == 0 and result.hours_estimated == 1 and result.hours_valid == 2
    first = result.valid.iloc[0]
    assert first["kwh"] == pytest.approx(hand) and first["intervals"] == 4 and first["intervals_estimated"] == 8
    assert result.valid.iloc[1][["kwh", "intervals", "intervals_estimated"]].tolist() == [12.0, 12, 0]
    # a lone reading fills the whole hour with its value
    lone = check(frame([("m2", "00:00", 0.25), *quarter_hours("m2", hours=(1,))]), IntervalPolicy(gap_fill="linear"))
    assert lone.valid[["kwh", "intervals", "intervals_estimated"]].values.tolist() == [[1.0, 1, 3], [1.0, 4, 0]]


def test_scada_columns_are_hourly_means():
    scada = ("voltage_pu", "power_factor", "frequency_hz", "active_power_kw")
    rows = [("m1", f"00:{m:02d}", 0.25, 1.0 + i / 100, 0.9, 60.0 + i / 10, 1.0 * i) for i, m in enumerate((0, 15, 30, 45))]
    raw = frame(rows, scada)
    raw.loc[2, "voltage_pu"] = np.nan  # a voltage not measured: the mean is over those that were
    result = check(raw)
    got = result.valid.iloc[0]
    assert got["kwh"] == 1.0 and got["power_factor"] == pytest.approx(0.9)
    assert got["voltage_pu"] == pytest.approx((1.00 + 1.01 + 1.03) / 3)
    assert got["frequency_hz"] == pytest.approx(60.15) and got["active_power_kw"] == pytest.approx(1.5)
    assert list(result.valid.columns) == ["timestamp", "meter_id", "feeder", "junction", "phase", "kwh", *scada,
                                          "source_file", "source_row", "intervals", "intervals_estimated"]


def test_hourly_meters_behave_as_before():
    rows = [("m1", "00:00", 1), ("m2", "00:00", 2), ("m3", "01:00", 4), ("m1", "01:00", 3)]
    result = check(frame(rows))
    assert result.valid[["meter_id", "kwh", "intervals", "intervals_estimated"]].values.tolist() == [
        ["m1", 1.0, 1, 0], ["m2", 2.0, 1, 0], ["m3", 4.0, 1, 0], ["m1", 3.0, 1, 0]]
    assert result.valid["source_row"].tolist() == [2, 3, 4, 5]
    agg = aggregate_by_junction(result.valid)
    assert agg[["junction", "kwh", "meters"]].values.tolist() == [["J1", 3.0, 2], ["J1", 3.0, 1], ["J2", 4.0, 1]]


# --- re-deliveries ---------------------------------------------------------------------------------


def test_identical_redelivery_is_collapsed_and_counted(tmp_path):
    a, b = tmp_path / "meter_readings_2023-03-01.csv", tmp_path / "meter_readings_2023-03-01_resend.csv"
    lines = [f"m1,2023-03-01T00:{m:02d}:00Z,0.52" for m in (0, 15, 30, 45)]
    a.write_text("meter_id,timestamp,kwh\n" + "\n".join(lines) + "\n")
    b.write_text("meter_id,timestamp,kwh\n" + "\n".join([*lines, "m1,2023-03-01T00:15:00Z,0.61"]) + "\n")
    raw = pd.concat([read_landing_file(a), read_landing_file(b)], ignore_index=True)
    result = accounted(validate_readings(raw, METERS), raw)
    assert result.rows_redelivered == 4 and result.rows_valid == 4 and result.valid["kwh"].tolist() == [pytest.approx(2.08)]
    assert result.quarantine[["source_file", "source_row", "rule"]].values.tolist() == [
        ["meter_readings_2023-03-01_resend.csv", 6, "duplicate_reading"]]
    assert result.quarantine["reason"].iloc[0] == "kwh 0.61 differs from 0.52 in meter_readings_2023-03-01.csv line 3, which was kept"
    files = result.per_file().set_index("source_file")
    assert files.loc["meter_readings_2023-03-01.csv"].tolist() == [4, 4, 0, 0]
    assert files.loc["meter_readings_2023-03-01_resend.csv"].tolist() == [5, 0, 1, 4]


def test_a_scada_difference_is_a_conflict_and_a_copy_of_a_conflict_a_redelivery():
    scada = ("voltage_pu",)
    rows = [("m1", "00:00", 1.0, 1.0), ("m1", "00:00", 1.0, 0.98), ("m1", "00:00", 1.0, 0.98), ("m1", "00:00", 1.0, 1.0)]
    result = check(frame(rows, scada))
    assert result.rows_valid == 1 and result.rows_quarantined == 1 and result.rows_redelivered == 2
    assert result.quarantine["reason"].tolist() == [
        "voltage_pu 0.98 differs from 1 in meter_readings_2023-03-01.csv line 2, which was kept"]


def test_a_meter_at_two_resolutions_in_one_hour():
    z = "meter_readings_2023-03-01_z.csv"  # the same meter at 30 minutes (00:00, 01:30, 02:00) besides 15 in the first file
    rows = quarter_hours("m1") + [("m1", "00:00", 1.0, z)]  # the same timestamp, another kwh: a conflict
    rows += [("m1", f"01:{m:02d}", 0.25) for m in (0, 15)] + [("m1", "01:30", 0.5, z), ("m1", "02:00", 1.0, z)]
    result = check(frame(rows))
    assert result.interval_minutes_counts() == {15: 1, 30: 1}
    assert result.counts_by_rule() == {"duplicate_reading": 2, "hour_incomplete": 3}  # hour 01 has 2 of 4, hour 02 1 of 2
    mismatch = result.quarantine[result.quarantine["reason"].str.startswith("on a ")]
    assert mismatch["reason"].tolist() == [
        "on a 30-minute interval, but the meter's hour came first at 15-minute intervals in meter_readings_2023-03-01.csv line 6, "
        "which was kept"]
    assert result.valid["kwh"].tolist() == [1.0]


# --- API -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"interval_minutes": 7}, {"interval_minutes": 0}, {"interval_minutes": True},
                                    {"interval_minutes": 15.0}, {"gap_fill": "spline"}])
def test_policy_is_validated(kwargs):
    with pytest.raises(ValueError):
        IntervalPolicy(**kwargs)


def test_topology_validator_takes_the_policy_and_totals_add_up():
    # (the topology's shape is zone.versions.versioned_topology's; the validator is built lazily, per version)
    topology = pd.DataFrame({
        "grid_element_id": ["m1", "m2"], "type": "meter", "feeder": "F1", "junction": "J1", "junction_phase": "A",
        "version": 1, "source_file": "t.csv", "valid_from": DAY.tz_localize(None), "valid_to": pd.NaT,
    })
    with pytest.raises(TypeError):
        TopologyValidator(topology, policy="linear")
    assert TopologyValidator(topology).policy == IntervalPolicy()
    days = [frame(quarter_hours("m1", hours=(0, 1), skip={(1, 15)}) + quarter_hours("m1")),
            frame(quarter_hours("m2", file="meter_readings_2023-03-02.csv"))]
    totals = ValidationTotals()
    for day, raw in zip(("2023-03-01", "2023-03-02"), days, strict=True):
        totals.add(day, MeterRules(METERS, IntervalPolicy(gap_fill="linear")).validate(raw))
    assert (totals.rows_in, totals.rows_valid, totals.rows_quarantined, totals.rows_redelivered) == (15, 11, 0, 4)
    assert (totals.hours_valid, totals.hours_estimated) == (3, 1) and totals.rows_accounted_for()
    assert totals.interval_minutes_counts() == {15: 2}
    assert totals.per_file().values.tolist() == [
        ["meter_readings_2023-03-01.csv", 11, 7, 0, 4], ["meter_readings_2023-03-02.csv", 4, 4, 0, 0]]


# --- against a plain reference ----------------------------------------------------------------------


def reference(raw: pd.DataFrame, gap_fill: str):
    """Obviously-correct, row-by-row Python: ({(meter, hour): (kwh, intervals, estimated)}, rule counts, per-file counts)."""
    rows = list(raw[["meter_id", "timestamp", "kwh", "source_file"]].itertuples(index=False, name=None))
    minutes_of = [int(t.value // 60_000_000_000) if t.value % 60_000_000_000 == 0 else None for t in raw["timestamp"]]
    micros = [t.value // 1000 for t in raw["timestamp"]]
    stamps = defaultdict(set)
    for (meter, _, _, file), us in zip(rows, micros, strict=True):
        stamps[(meter, file)].add(us)
    interval = {}
    for pair, times in stamps.items():
        times = sorted(times)
        diffs = Counter(b - a for a, b in zip(times, times[1:]))
        ok = {d: c for d, c in diffs.items() if d % 60_000_000 == 0 and 60 % (d // 60_000_000) == 0}
        interval[pair] = max(ok, key=lambda d: (ok[d], d)) // 60_000_000 if ok else 60
    status, rule = [None] * len(rows), {}
    seen = defaultdict(list)
    for i, (meter, _, kwh, file) in enumerate(rows):
        if kwh < 0:
            status[i], rule[i] = "q", "kwh_negative"
        elif minutes_of[i] is None or minutes_of[i] % interval[(meter, file)]:
            status[i], rule[i] = "q", "timestamp_off_interval"
        elif any(kwh == other for other in seen[(meter, micros[i])]):
            status[i] = "r"
        elif seen[(meter, micros[i])]:
            status[i], rule[i] = "q", "duplicate_reading"
        if status[i] != "q" or rule[i] == "duplicate_reading":
            seen[(meter, micros[i])].append(kwh)
    hours = defaultdict(list)
    for i, (meter, _, kwh, file) in enumerate(rows):
        if status[i] is None:
            hours[(meter, micros[i] // 3_600_000_000)].append((micros[i], interval[(meter, file)], kwh, i))
    out = {}
    for key, readings in hours.items():
        readings.sort()
        step = readings[0][1]
        for _, other_step, _, i in readings:
            if other_step != step:
                status[i], rule[i] = "q", "duplicate_reading"
        readings = [r for r in readings if r[1] == step]
        k = 60 // step
        value = {(us // 60_000_000) % 60 // step: kwh for us, _, kwh, _ in readings}
        if len(value) == k or gap_fill == "linear":
            filled = []
            for s in range(k):
                if s in value:
                    filled.append(value[s])
                    continue
                left = max((p for p in value if p < s), default=None)
                right = min((p for p in value if p > s), default=None)
                if left is None:
                    filled.append(value[right])
                elif right is None:
                    filled.append(value[left])
                else:
                    filled.append(value[left] + (value[right] - value[left]) * (s - left) / (right - left))
            out[key] = (sum(filled), len(value), k - len(value))
            for r in readings:
                status[r[3]] = "v"
        else:
            for r in readings:
                status[r[3]], rule[r[3]] = "q", "hour_incomplete"
    per_file = defaultdict(Counter)
    for (_, _, _, file), s in zip(rows, status, strict=True):
        per_file[file][s] += 1
    return out, Counter(rule.values()), {f: (sum(c.values()), c["v"], c["q"], c["r"]) for f, c in per_file.items()}


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("gap_fill", ["none", "linear"])
def test_vectorized_roll_up_matches_the_reference(seed, gap_fill):
    rng = np.random.default_rng(seed)
    rows = []
    for f, file in enumerate(["meter_readings_2023-03-01_a.csv", "meter_readings_2023-03-01_b.csv"]):
        for meter in METERS["meter_id"]:
            step = int(rng.choice([5, 10, 15, 20, 30, 60]))
            for h in range(f * 3, f * 3 + 4):  # the files overlap in hour 3
                for m in range(0, 60, step):
                    if rng.random() < 0.08:
                        continue  # a missing interval
                    kwh = round(float(rng.random()), 2) if rng.random() > 0.03 else -1.0
                    rows.append((meter, f"{h:02d}:{m:02d}", kwh, file))
                    if rng.random() < 0.05:
                        rows.append((meter, f"{h:02d}:{m:02d}", kwh if rng.random() < 0.5 else kwh + 1, file))
                    if rng.random() < 0.02:
                        rows.append((meter, f"{h:02d}:{m:02d}:{int(rng.integers(1, 59)):02d}", kwh, file))  # off any grid
    order = rng.permutation(len(rows))  # lines in any order within a file
    raw = frame([rows[i] for i in order])
    result = check(raw, IntervalPolicy(gap_fill=gap_fill))
    hours, rules, files = reference(raw, gap_fill)
    got = {(m, int(t.value // 3_600_000_000_000)): (k, i, e) for m, t, k, i, e in
           result.valid[["meter_id", "timestamp", "kwh", "intervals", "intervals_estimated"]].itertuples(index=False, name=None)}
    assert got.keys() == hours.keys()
    for key, (kwh, intervals, estimated) in hours.items():
        assert got[key][0] == pytest.approx(kwh) and got[key][1:] == (intervals, estimated), key
    assert result.counts_by_rule() == {r: c for r, c in rules.items() if c}
    assert {f: tuple(v) for f, *v in result.per_file().values.tolist()} == files
    assert result.valid["timestamp"].is_monotonic_increasing
