"""Real utility exports through the Dagster assets: the same readings in other layouts, encodings and
interval lengths give the same validated hourly loads, and every file's rows are accounted for."""

import gzip

import dagster as dg
import pandas as pd

from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone
from lascopf_assets_tests.local_zone import INGEST, use_local_data_dir
from lascopf_assets_tests.platform.test_ingestion_assets import materializations

PARAMS = DemoZoneParams(junctions=4, meters_per_junction=(3, 5), days=3, seed=11)
DAYS = ("2023-01-01", "2023-01-03")
RANGE = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[1]}
HOURLY = ["timestamp", "meter_id", "kwh"]


def _ingest(data, monkeypatch):
    """The zone under ``data`` ingested as one range run on a fresh instance: (result, validated rows by meter-hour)."""
    use_local_data_dir(monkeypatch, data)
    from lascopf_assets.definitions import defs

    d = defs()
    instance = dg.DagsterInstance.ephemeral()
    assets = list(d.assets)
    assert dg.materialize(assets, selection=["grid_topology"], resources=d.resources, instance=instance).success
    result = dg.materialize(assets, selection=INGEST, resources=d.resources, instance=instance, tags=RANGE, raise_on_error=False)
    from lascopf_assets.storage.parquet_lake import ParquetLake

    valid = ParquetLake.local(data / "lake").read_partitions(["validated_loads"], ["2023-01-01", "2023-01-02", "2023-01-03"])
    return result, valid.sort_values(["timestamp", "meter_id"], ignore_index=True)


def _european(path, out):
    """A long CSV rewritten as a European export: semicolons, decimal commas, a cp1252 comment column, gzip."""
    frame = pd.read_csv(path, dtype=str)
    frame["kwh"] = frame["kwh"].str.replace(".", ",", regex=False)
    frame["bemerkung"] = "geprüft"
    text = frame.to_csv(sep=";", index=False)
    out.write_bytes(gzip.compress(text.encode("cp1252")))


def _wide(path, out):
    """A long hourly CSV of one UTC day as a wide file: one row per meter, 24 columns 00:00..23:00, UTF-8 with
    BOM, offset Z (a missing reading is an empty cell)."""
    frame = pd.read_csv(path, dtype={"kwh": str})
    stamps = pd.to_datetime(frame["timestamp"], utc=True)
    frame["date"] = stamps.dt.strftime("%Y-%m-%d")
    frame["slot"] = stamps.dt.strftime("%H:00")
    wide = frame.pivot_table(index=["meter_id", "date"], columns="slot", values="kwh", aggfunc="first").reset_index()
    for hour in range(24):
        wide[f"{hour:02d}:00"] = wide.get(f"{hour:02d}:00", pd.Series(dtype=str))
    wide.insert(2, "utc_offset", "Z")
    wide = wide[["meter_id", "date", "utc_offset", *(f"{h:02d}:00" for h in range(24))]]
    out.write_bytes(b"\xef\xbb\xbf" + wide.to_csv(index=False).encode("utf-8"))


def test_the_same_readings_in_utility_layouts_validate_to_the_same_hourly_loads(tmp_path, monkeypatch):
    plain = tmp_path / "plain"
    write_demo_zone(plain, PARAMS)
    _, expected = _ingest(plain, monkeypatch)

    other = tmp_path / "exports"
    write_demo_zone(other, PARAMS)
    landing = other / "landing"
    _european(landing / "meter_readings_2023-01-01.csv", landing / "meter_readings_2023-01-01.csv.gz")
    _wide(landing / "meter_readings_2023-01-02.csv", landing / "wide_2023-01-02.csv")
    (landing / "meter_readings_2023-01-01.csv").unlink()
    (landing / "meter_readings_2023-01-02.csv").unlink()
    result, got = _ingest(other, monkeypatch)
    assert result.success

    # the hours agree, whatever file they came from; the wide file's empty cells (missing readings) are quarantined
    pd.testing.assert_frame_equal(got[HOURLY], expected[HOURLY])
    meta = materializations(result, "validated_loads")[0].metadata
    empty_cells = 24 * len(expected[expected.timestamp.dt.day == 2].meter_id.unique()) - (expected.timestamp.dt.day == 2).sum()
    assert meta["quarantined_by_rule"].value == ({"kwh_missing": int(empty_cells)} if empty_cells else {})
    per_file = materializations(result, "raw_measurements")[0].metadata["per_file"].value
    assert "| meter_readings_2023-01-01.csv.gz |" in per_file and "cp1252" in per_file and "gzip" in per_file
    assert "| wide_2023-01-02.csv |" in per_file and "utf-8-sig" in per_file and "wide" in per_file


def test_fifteen_minute_readings_roll_up_to_the_hourly_zone(tmp_path, monkeypatch):
    hourly = tmp_path / "hourly"
    write_demo_zone(hourly, PARAMS)
    _, expected = _ingest(hourly, monkeypatch)
    quarter = tmp_path / "quarter"
    write_demo_zone(quarter, DemoZoneParams(**{**PARAMS.__dict__, "interval_minutes": 15}))
    result, got = _ingest(quarter, monkeypatch)
    assert result.success
    meta = materializations(result, "validated_loads")[0].metadata
    # four readings per hour in, one hourly row out, every reading accounted for
    assert meta["rows_in"].value == 4 * len(expected) and meta["rows_quarantined"].value == 0
    assert got["intervals"].eq(4).all() and got["intervals_estimated"].eq(0).all()
    pd.testing.assert_frame_equal(got[["timestamp", "meter_id"]], expected[["timestamp", "meter_id"]])
    # the generator splits each hour into 4-decimal intervals that sum exactly to it
    assert (got["kwh"] - expected["kwh"]).abs().max() < 1e-9
