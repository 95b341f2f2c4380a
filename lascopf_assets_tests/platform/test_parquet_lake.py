"""The Parquet lake: one atomic file per partition; ranges split by time; reads concatenate."""

import pandas as pd
import pyarrow.parquet as pq
import pytest

from lascopf_assets.storage.parquet_lake import ParquetLake, PartitionMissingError, PartitionWindow


def day_windows(*days):
    return [PartitionWindow(d, pd.Timestamp(d, tz="UTC"), pd.Timestamp(d, tz="UTC") + pd.Timedelta(days=1)) for d in days]


def hours(start, n):
    return pd.date_range(start, periods=n, freq="h", tz="UTC").as_unit("us")


def test_range_is_split_by_day_and_reads_concatenate(tmp_path):
    lake = ParquetLake.local(tmp_path)
    df = pd.DataFrame({"timestamp": hours("2023-01-01", 48)[::-1], "v": range(48)})  # unsorted on purpose
    paths = lake.write_range(["a", "b"], df, "timestamp", day_windows("2023-01-01", "2023-01-02", "2023-01-03"))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["2023-01-01.parquet", "2023-01-02.parquet", "2023-01-03.parquet"]
    day1 = lake.read(["a", "b"], "2023-01-01")
    assert len(day1) == 24 and (day1["timestamp"].dt.day == 1).all()
    assert len(lake.read(["a", "b"], "2023-01-03")) == 0  # empty day still exists, with the schema
    assert list(lake.read(["a", "b"], "2023-01-03").columns) == ["timestamp", "v"]
    both = lake.read_partitions(["a", "b"], ["2023-01-01", "2023-01-02"])
    assert sorted(both["v"]) == list(range(48))
    assert both["timestamp"].dtype == pd.DatetimeTZDtype(unit="us", tz="UTC")
    assert lake.partition_keys(["a", "b"]) == ["2023-01-01", "2023-01-02", "2023-01-03"]


def test_rows_outside_the_range_are_refused_before_writing(tmp_path):
    lake = ParquetLake.local(tmp_path)
    df = pd.DataFrame({"timestamp": hours("2023-01-01", 30), "v": range(30)})
    with pytest.raises(ValueError, match="6 row\\(s\\) of x fall outside"):
        lake.write_range(["x"], df, "timestamp", day_windows("2023-01-01"))
    assert lake.partition_keys(["x"]) == []


def test_failed_write_leaves_the_old_partition_intact(tmp_path, monkeypatch):
    lake = ParquetLake.local(tmp_path)
    old = pd.DataFrame({"timestamp": hours("2023-01-01", 24), "v": 1})
    lake.write(["x"], old, "2023-01-01")

    real_write = pq.write_table

    def write_half_then_fail(table, sink, **kwargs):
        real_write(table.slice(0, 3), sink, **kwargs)
        raise OSError("disk full (injected)")

    monkeypatch.setattr(pq, "write_table", write_half_then_fail)
    with pytest.raises(OSError, match="injected"):
        lake.write(["x"], old.assign(v=2), "2023-01-01")
    monkeypatch.undo()
    again = lake.read(["x"], "2023-01-01")
    assert len(again) == 24 and (again["v"] == 1).all()
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["2023-01-01.parquet"]  # no temp file left behind


def test_missing_partition_is_a_clear_error(tmp_path):
    with pytest.raises(PartitionMissingError, match="x partition 2023-01-09 has not been materialized"):
        ParquetLake.local(tmp_path).read(["x"], "2023-01-09")


def test_unpartitioned_round_trip(tmp_path):
    lake = ParquetLake.local(tmp_path)
    lake.write(["t"], pd.DataFrame({"a": [1, 2]}))
    assert lake.read(["t"])["a"].tolist() == [1, 2]
    assert lake.exists(["t"]) and not lake.exists(["u"])


def test_write_days_writes_each_day_as_soon_as_it_comes(tmp_path):
    lake = ParquetLake.local(tmp_path)
    windows = day_windows("2023-01-01", "2023-01-02", "2023-01-03", "2023-01-04")
    present_when_asked = []

    def days():
        for i, w in enumerate(windows):
            present_when_asked.append(lake.partition_keys(["s"]))
            yield w, pd.DataFrame({"timestamp": hours(w.key, 24), "v": i})

    written = lake.write_days(["s"], days(), "timestamp", depth=1)
    assert [rows for _path, rows in written] == [24] * 4
    # depth 1: day k is on disk before day k + 1 is asked for (the range is never held)
    assert present_when_asked == [[w.key for w in windows[:i]] for i in range(4)]
    assert [k for k, _f in lake.read_days(["s"], [w.key for w in windows])] == [w.key for w in windows]
    frames = dict(lake.read_days(["s"], [w.key for w in windows], columns=["v"]))
    assert list(frames["2023-01-03"].columns) == ["v"] and (frames["2023-01-03"]["v"] == 2).all()


def test_a_failure_on_day_k_leaves_earlier_days_written_and_later_days_untouched(tmp_path, monkeypatch):
    lake = ParquetLake.local(tmp_path)
    windows = day_windows("2023-01-01", "2023-01-02", "2023-01-03")
    for w in windows:
        lake.write(["x"], pd.DataFrame({"timestamp": hours(w.key, 24), "v": 0}), w.key)

    def failing_on_day_2():
        yield windows[0], pd.DataFrame({"timestamp": hours("2023-01-01", 24), "v": 1})
        raise RuntimeError("day 2 cannot be made (injected)")

    with pytest.raises(RuntimeError, match="injected"):
        lake.write_days(["x"], failing_on_day_2(), "timestamp")
    assert [int(lake.read(["x"], w.key)["v"].iloc[0]) for w in windows] == [1, 0, 0]

    # the writer fails half-way through day 2's file: day 2 keeps its old file, day 3 is not written
    real_write = pq.write_table
    calls = []

    def fail_second_file(table, sink, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            real_write(table.slice(0, 3), sink, **kwargs)
            raise OSError("disk full (injected)")
        real_write(table, sink, **kwargs)

    monkeypatch.setattr(pq, "write_table", fail_second_file)
    new = ((w, pd.DataFrame({"timestamp": hours(w.key, 24), "v": 2})) for w in windows)
    with pytest.raises(OSError, match="disk full"):
        lake.write_days(["x"], new, "timestamp", depth=1)
    monkeypatch.undo()
    assert [int(lake.read(["x"], w.key)["v"].iloc[0]) for w in windows] == [2, 0, 0]
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == [f"{w.key}.parquet" for w in windows]  # no temp files


def test_a_day_with_rows_outside_its_window_is_refused_and_not_written(tmp_path):
    lake = ParquetLake.local(tmp_path)
    windows = day_windows("2023-01-01", "2023-01-02")
    days = [(windows[0], pd.DataFrame({"timestamp": hours("2023-01-01", 24), "v": 1})),
            (windows[1], pd.DataFrame({"timestamp": hours("2023-01-02", 30), "v": 1}))]
    with pytest.raises(ValueError, match="6 row\\(s\\) of x fall outside the partition 2023-01-02"):
        lake.write_days(["x"], iter(days), "timestamp")
    assert lake.partition_keys(["x"]) == ["2023-01-01"]


def test_read_days_selects_rows_and_columns_in_the_reader(tmp_path):
    lake = ParquetLake.local(tmp_path)
    windows = day_windows("2023-01-01", "2023-01-02")
    lake.write_days(["f"], ((w, pd.DataFrame({"timestamp": hours(w.key, 24), "feeder": ["TR1", "TR2"] * 12, "v": 1.0}))
                            for w in windows), "timestamp")
    days = dict(lake.read_days(["f"], [w.key for w in windows], where_equal=("feeder", "TR2"), columns=["timestamp", "v"]))
    assert list(days) == ["2023-01-01", "2023-01-02"]
    assert all(len(f) == 12 and list(f.columns) == ["timestamp", "v"] for f in days.values())
    # a column the file does not have is left out: the reader's caller says what it misses
    assert list(lake.read_table(["f"], "2023-01-01", columns=["v", "absent"]).column_names) == ["v"]
