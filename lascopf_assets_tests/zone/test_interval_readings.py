"""Sub-hourly demo readings (issue 11): each present meter-hour split into exact 4-decimal intervals.

An hourly zone is written byte for byte as before the option existed; a sub-hourly zone
has 60/N rows per present meter-hour on the N-minute grid, non-negative, summing exactly
(as 4-decimal text) to the hourly zone's kWh, the same in CSV and Parquet.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from lascopf_assets.cli import demo_data
from lascopf_assets.lib.zone.demo import INTERVAL_MINUTES, DemoZoneParams, generate_demo_zone, write_demo_zone
from lascopf_assets.lib.zone.readings import split_scaled_kwh

# Small but with every kind of gap: scattered missing hours, outages, replacements; 3 days.
ZONE = dict(junctions=3, meters_per_junction=(3, 6), days=3, seed=11, missing_rate=0.02, outages=2, replacements=2)

# sha256 over (relative path, bytes) of every file of write_demo_zone(ZONE_GOLDEN) as CSV (readings and
# topology, no glitch lines: those are glitches.py's to change), written by the code before
# interval_minutes existed (commit 4eab3b1).
ZONE_GOLDEN = dict(junctions=3, meters_per_junction=(3, 6), days=3, seed=11)
GOLDEN_CSV_DIGEST = "42642851cf1e2b7c0338191564c1a0c858b4d9a2b6f2a143d1a4d312b22b2682"


def folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def csv_text(folder: Path) -> pd.DataFrame:
    """Every landing CSV row as text, kWh also as scaled integers (ten-thousandths), in file order."""
    frames = [
        pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(
            ("meter_id", "timestamp", "kwh"), "string"))).to_pandas()
        for path in sorted((folder / "landing").glob("*.csv"))
    ]
    rows = pd.concat(frames, ignore_index=True)
    assert rows["kwh"].str.fullmatch(r"\d+\.\d{4}").all()  # fixed 4 decimals, no sign: never negative
    rows["scaled"] = rows["kwh"].str.replace(".", "", regex=False).astype(np.int64)
    rows["at"] = pd.to_datetime(rows["timestamp"], format="ISO8601", utc=True)
    return rows


@pytest.fixture(scope="module")
def hourly_zone(tmp_path_factory) -> pd.DataFrame:
    folder = tmp_path_factory.mktemp("hourly")
    write_demo_zone(folder, DemoZoneParams(**ZONE))
    return csv_text(folder)


def test_interval_minutes_60_writes_todays_bytes(tmp_path):
    for name, extra in (("default", {}), ("explicit", {"interval_minutes": 60})):
        write_demo_zone(tmp_path / name / "csv", DemoZoneParams(**ZONE_GOLDEN, **extra))
        write_demo_zone(tmp_path / name / "glitches", DemoZoneParams(**ZONE_GOLDEN, glitches=6, **extra))
        write_demo_zone(tmp_path / name / "parquet", DemoZoneParams(**ZONE_GOLDEN, **extra), fmt="parquet")
    assert folder_digest(tmp_path / "explicit" / "csv") == folder_digest(tmp_path / "default" / "csv") == GOLDEN_CSV_DIGEST
    for kind in ("glitches", "parquet"):
        assert folder_digest(tmp_path / "explicit" / kind) == folder_digest(tmp_path / "default" / kind)
    frames = [generate_demo_zone(DemoZoneParams(**ZONE_GOLDEN, **extra)).readings for extra in ({}, {"interval_minutes": 60})]
    pd.testing.assert_frame_equal(*frames)


@pytest.mark.parametrize("minutes", [15, 30])
def test_intervals_split_each_present_hour_exactly(tmp_path, hourly_zone, minutes):
    per_hour = 60 // minutes
    params = DemoZoneParams(**ZONE, interval_minutes=minutes)
    summary = write_demo_zone(tmp_path, params)
    rows = csv_text(tmp_path)

    assert summary.rows == len(rows) == len(hourly_zone) * per_hour  # present hours x intervals
    assert rows["timestamp"].str.endswith("+00:00").all()
    assert (rows["at"].dt.second == 0).all() and (rows["at"].dt.minute % minutes == 0).all()

    rows["hour"] = rows["at"].dt.floor("h")
    by_hour = rows.groupby(["meter_id", "hour"]).agg(
        scaled=("scaled", "sum"), readings=("scaled", "size"), minutes=("at", lambda at: tuple(sorted(at.dt.minute)))
    )
    assert (by_hour["readings"] == per_hour).all()  # a missing hour is missing as a whole
    assert set(by_hour["minutes"]) == {tuple(range(0, 60, minutes))}  # every interval start of the hour, once
    hourly = hourly_zone.set_index(["meter_id", "at"])["scaled"].rename_axis(["meter_id", "hour"])
    pd.testing.assert_series_equal(by_hour["scaled"].sort_index(), hourly.sort_index(), check_names=False)

    # Sorted by timestamp, then meter position, as the hourly files are.
    assert rows["at"].is_monotonic_increasing
    first_stamp = rows[rows["at"] == rows["at"].iloc[0]]["meter_id"]
    assert first_stamp.is_monotonic_increasing
    # The split varies within the hour (not 60/N equal parts).
    assert rows.groupby(["meter_id", "hour"])["scaled"].nunique().mean() > 1.5


@pytest.mark.parametrize("minutes", [15, 30])
def test_csv_parquet_and_frame_agree(tmp_path, minutes):
    params = DemoZoneParams(**ZONE, interval_minutes=minutes)
    write_demo_zone(tmp_path / "csv", params)
    write_demo_zone(tmp_path / "parquet", params, fmt="parquet")
    text = csv_text(tmp_path / "csv")
    typed = pd.concat(
        [pq.read_table(path).to_pandas() for path in sorted((tmp_path / "parquet" / "landing").glob("*.parquet"))],
        ignore_index=True,
    )
    assert str(typed["timestamp"].dtype) == "datetime64[us, UTC]" and typed["kwh"].dtype == np.float64
    assert typed["meter_id"].tolist() == text["meter_id"].tolist()
    assert (typed["timestamp"] == text["at"]).all()
    assert (np.rint(typed["kwh"].to_numpy() * 10_000).astype(np.int64) == text["scaled"].to_numpy()).all()
    assert (typed["kwh"] >= 0).all()
    # The whole range at once gives the same rows as the day files: the split depends on the reading alone.
    pd.testing.assert_frame_equal(generate_demo_zone(params).readings, typed)


def test_sub_hourly_zone_is_deterministic_and_keeps_its_glitches(tmp_path):
    params = DemoZoneParams(**ZONE, interval_minutes=15, glitches=6)
    first = write_demo_zone(tmp_path / "a", params)
    write_demo_zone(tmp_path / "b", params)
    assert folder_digest(tmp_path / "a") == folder_digest(tmp_path / "b")
    assert len(first.glitches) == 6
    lines = sum(len(p.read_text().splitlines()) - 1 for p in first.paths)  # less each header
    assert lines == first.rows + 6  # the bad lines appended after the readings, as for hourly files


def test_split_scaled_kwh_sums_exactly_and_never_goes_negative():
    rng = np.random.default_rng(0)
    hours = np.concatenate([[0, 1, 2, 3, 5, 99_999_999], rng.integers(0, 200_000, 5_000)]).astype(np.int64)
    for k in (2, 4, 12):
        weights = rng.uniform(0.3, 1.7, (len(hours), k))
        weights /= weights.sum(axis=1, keepdims=True)
        intervals = split_scaled_kwh(hours, weights)
        assert (intervals.sum(axis=1) == hours).all()
        assert (intervals >= 0).all()
        assert (intervals - np.floor(hours[:, None] * weights) <= k - 1).all()  # the remainder is below k units


@pytest.mark.parametrize("bad", [7, 0, 120, 15.0, True])
def test_interval_minutes_must_divide_the_hour(bad):
    with pytest.raises(ValueError, match="interval_minutes must be one of 5, 10, 15, 20, 30, 60"):
        DemoZoneParams(interval_minutes=bad)
    assert INTERVAL_MINUTES == (5, 10, 15, 20, 30, 60)


def test_demo_data_cli_interval_minutes(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="lascopf")
    demo_data.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["demo-data", str(tmp_path), "--junctions", "2", "--days", "1", "--interval-minutes", "10"])
    assert args.func(args) == 0
    assert "10-minute readings" in capsys.readouterr().out
    stamps = pacsv.read_csv(tmp_path / "landing" / "meter_readings_2023-01-01.csv").column("timestamp").to_pandas()
    assert sorted(stamps.dt.minute.unique()) == [0, 10, 20, 30, 40, 50]
    with pytest.raises(SystemExit):
        parser.parse_args(["demo-data", str(tmp_path), "--interval-minutes", "7"])
