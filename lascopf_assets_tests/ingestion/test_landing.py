"""Landing files: every row kept with provenance; parse problems coded per row; unreadable files named."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lascopf_assets.lib.ingest.landing import LandingFileError, read_landing_file, refusal_reason, scan_landing
from lascopf_assets.lib.ingest.landing_index import LandingIndex


def write(path, text):
    path.write_text(text)
    return path


GOOD = "meter_id,timestamp,kwh\nm1,2023-01-01T00:00:00+00:00,1.5\nm2,2023-01-01T01:00:00+01:00,2\n"


def test_clean_csv_is_typed_with_line_numbers(tmp_path):
    df = read_landing_file(write(tmp_path / "a.csv", GOOD))
    assert df["timestamp"].dtype == pd.DatetimeTZDtype(unit="us", tz="UTC")
    assert df["kwh"].tolist() == [1.5, 2.0]
    # +01:00 is converted to the same UTC instant as the first row
    assert df["timestamp"].tolist() == [pd.Timestamp("2023-01-01T00:00Z")] * 2
    assert df["source_row"].tolist() == [2, 3]
    assert df["source_file"].unique().tolist() == ["a.csv"]
    assert df["parse_error"].isna().all()


def test_each_row_problem_is_coded_at_its_line(tmp_path):
    text = (
        "meter_id,timestamp,kwh\n"
        "m1,2023-01-01T00:00:00+00:00,1.5\n"  # 2 fine
        "m2,2023-01-01T01:00:00,2\n"  # 3 no offset
        "m3,2023-01-01T02:00:00+00:00,abc\n"  # 4 not numeric
        "m4,2023-01-01T02:00:00+00:00,4,5\n"  # 5 too many fields
        "\n"  # 6 blank line
        "m5,yesterday,1\n"  # 7 unparseable timestamp
        ",2023-01-01T04:00:00+00:00,1\n"  # 8 no meter
        "m6,2023-01-01T05:00:00+00:00,\n"  # 9 empty kwh
    )
    df = read_landing_file(write(tmp_path / "bad.csv", text)).set_index("source_row")
    assert len(df) == 8  # nothing dropped: every data line is a row
    assert pd.isna(df.loc[2, "parse_error"])
    assert df["parse_error"].drop(2).to_dict() == {
        3: "timestamp_without_utc_offset", 4: "kwh_not_numeric", 5: "malformed_row",
        6: "meter_id_missing", 7: "timestamp_unparseable", 8: "meter_id_missing", 9: "kwh_missing",
    }
    assert df.loc[5, "raw_values"] == "m4,2023-01-01T02:00:00+00:00,4,5"
    assert "timestamp=yesterday" in df.loc[7, "raw_values"]
    # rows without a usable timestamp are routed to the file's first day
    assert df.loc[7, "timestamp"] == pd.Timestamp("2023-01-01T00:00Z")


def test_spelled_nan_is_a_number_not_a_parse_error(tmp_path):
    df = read_landing_file(write(tmp_path / "n.csv", "meter_id,timestamp,kwh\nm1,2023-01-01T00:00:00Z,nan\nm1,2023-01-01T01:00:00Z,x\n"))
    assert pd.isna(df.loc[0, "parse_error"]) and pd.isna(df.loc[0, "kwh"])
    assert df.loc[1, "parse_error"] == "kwh_not_numeric"


@pytest.mark.parametrize(
    "name,text,reason",
    [
        ("nocol.csv", "meter_id,kwh\nm1,1\n", "missing required column(s) timestamp"),
        ("notime.csv", "meter_id,timestamp,kwh\nm1,x,1\n", "no row has a readable timestamp"),
    ],
)
def test_unreadable_file_names_file_and_reason(tmp_path, name, text, reason):
    with pytest.raises(LandingFileError) as err:
        read_landing_file(write(tmp_path / name, text))
    assert name in str(err.value) and reason in str(err.value)


def test_binary_garbage_is_refused_with_the_file_name(tmp_path):
    path = tmp_path / "junk.parquet"
    path.write_bytes(b"\x00\x01not parquet")
    with pytest.raises(LandingFileError, match="junk.parquet: not a readable Parquet file"):
        read_landing_file(path)


def test_parquet_landing_file(tmp_path):
    table = pa.table(
        {
            "meter_id": ["m1", "m2"],
            "timestamp": pa.array([pd.Timestamp("2023-01-02T00:00Z"), pd.Timestamp("2023-01-02T01:00Z")], pa.timestamp("us", tz="UTC")),
            "kwh": [1.0, -2.0],
        }
    )
    pq.write_table(table, tmp_path / "p.parquet")
    df = read_landing_file(tmp_path / "p.parquet")
    assert df["source_row"].tolist() == [1, 2]
    assert df["kwh"].tolist() == [1.0, -2.0]
    assert df["parse_error"].isna().all()


def test_naive_parquet_timestamps_are_flagged(tmp_path):
    table = pa.table({"meter_id": ["m1"], "timestamp": pa.array([pd.Timestamp("2023-01-02")], pa.timestamp("us")), "kwh": [1.0]})
    pq.write_table(table, tmp_path / "naive.parquet")
    assert read_landing_file(tmp_path / "naive.parquet")["parse_error"].tolist() == ["timestamp_without_utc_offset"]


def test_scan_refuses_unsafe_names_and_links(tmp_path):
    write(tmp_path / "ok_2023-01-01.csv", GOOD)
    write(tmp_path / "notes.txt", "x")
    write(tmp_path / ".partial.csv", GOOD)
    (tmp_path / "link.csv").symlink_to("/etc/passwd")
    (tmp_path / "sub").mkdir()
    files, refused = scan_landing(tmp_path)
    assert [f.name for f in files] == ["ok_2023-01-01.csv"]
    assert dict(refused).keys() == {"notes.txt", "link.csv"}
    assert refusal_reason("../etc/x.csv") and refusal_reason("a\\b.csv") and refusal_reason("-x.csv")
    assert refusal_reason("meter_readings_2023-01-01.csv") is None


def test_index_reads_only_new_or_rewritten_files(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    write(landing / "a.csv", GOOD)
    write(landing / "b.csv", "meter_id,timestamp,kwh\nm1,2023-01-02T23:00:00-02:00,1\n")  # 2023-01-03 UTC
    index = LandingIndex(tmp_path / "state" / "index.json")
    files, _ = scan_landing(landing)
    assert {i.file.name: i.days for i in index.refresh(files)} == {"a.csv": ("2023-01-01",), "b.csv": ("2023-01-03",)}
    # a cached identity is not read again: make the file unreadable without changing size/mtime
    st = (landing / "a.csv").stat()
    (landing / "a.csv").write_text("x" * st.st_size)
    import os
    os.utime(landing / "a.csv", ns=(st.st_atime_ns, st.st_mtime_ns))
    files, _ = scan_landing(landing)
    assert index.refresh(files)[0].days == ("2023-01-01",)
    # a rewrite (new mtime) is read again; an unreadable file keeps the day in its name and its error
    write(landing / "b.csv", "garbage")
    (landing / "c_2023-01-05.csv").write_text("meter_id,kwh\n")
    files, _ = scan_landing(landing)
    got = {i.file.name: (i.days, i.error) for i in index.refresh(files)}
    assert got["b.csv"][1] and got["b.csv"][0] == ()
    assert got["c_2023-01-05.csv"] == (("2023-01-05",), "missing required column(s) timestamp")
    # a file missing only kwh is routed by its own timestamps, whatever its name says
    (landing / "d_2023-01-09.csv").write_text("meter_id,timestamp\nm1,2023-01-06T10:00:00Z\nm1,2023-01-07T10:00:00Z\n")
    files, _ = scan_landing(landing)
    [d] = [i for i in index.refresh(files) if i.file.name == "d_2023-01-09.csv"]
    assert d.days == ("2023-01-06", "2023-01-07") and d.error == "missing required column(s) kwh"


def test_files_for_days_read_each_file_once_and_set_unreadable_ones_apart(tmp_path, monkeypatch):
    import pandas as pd

    from lascopf_assets.lib.ingest import raw_rows
    from lascopf_assets.lib.ingest.raw_rows import DayWindow, landing_files_for_days, raw_rows_by_day

    landing = tmp_path / "landing"
    landing.mkdir()
    for day in ("01", "02", "03"):
        write(landing / f"d_2023-01-{day}.csv", f"meter_id,timestamp,kwh\nm1,2023-01-{day}T00:00:00Z,1\n")
    reads = []
    real = raw_rows.read_landing_table
    monkeypatch.setattr(raw_rows, "read_landing_table", lambda path, at, shown=None: reads.append(path) or real(path, at, shown))
    index = LandingIndex(tmp_path / "state" / "index.json")
    now = pd.Timestamp.now(tz="UTC")

    def day(key):
        return DayWindow(key, pd.Timestamp(key, tz="UTC"), pd.Timestamp(key, tz="UTC") + pd.Timedelta(days=1))

    files, _ = scan_landing(landing)
    found = landing_files_for_days(index, files, {"2023-01-02"}, now)
    wanted = found.readable
    [(key, rows)] = list(raw_rows_by_day(wanted, [day("2023-01-02")], now, kept=found.kept))
    # a fresh index reads all three files once; the one for the day is not read again
    assert sorted(reads) == sorted(f.path for f in files)
    assert [w.file.name for w in wanted] == ["d_2023-01-02.csv"] and key == "2023-01-02" and len(rows) == 1
    reads.clear()
    found = landing_files_for_days(index, files, {"2023-01-03"}, now)  # indexed: only the wanted file
    list(raw_rows_by_day(found.readable, [day("2023-01-03")], now, kept=found.kept))
    assert [p.rsplit("/", 1)[1] for p in reads] == ["d_2023-01-03.csv"]
    write(landing / "bad_2023-01-03.csv", "no,columns\n")
    files, _ = scan_landing(landing)
    found = landing_files_for_days(index, files, {"2023-01-03"}, now)
    # the unreadable file of the day is set apart with its reason; the good one is still ingested
    assert [f.file.name for f in found.readable] == ["d_2023-01-03.csv"]
    [unreadable] = found.unreadable
    assert unreadable.file.name == "bad_2023-01-03.csv" and unreadable.error.startswith("missing required column(s)")
    assert len(found.indexed) == 4


def test_without_room_to_keep_tables_new_files_are_indexed_by_their_timestamps(tmp_path, monkeypatch):
    import pandas as pd

    from lascopf_assets.lib.ingest import raw_rows
    from lascopf_assets.lib.ingest.raw_rows import DayWindow, landing_files_for_days, raw_rows_by_day

    landing = tmp_path / "landing"
    landing.mkdir()
    # one file over two days, one per day: each day's rows come from every file that has some, by name
    write(landing / "a.csv", "meter_id,timestamp,kwh\nm1,2023-01-02T01:00:00Z,2\nm1,2023-01-01T00:00:00Z,1\n")
    write(landing / "b.csv", "meter_id,timestamp,kwh\nm2,2023-01-01T00:00:00Z,3\n")
    reads = []
    real = raw_rows.read_landing_table
    monkeypatch.setattr(raw_rows, "read_landing_table", lambda path, at, shown=None: reads.append(path) or real(path, at, shown))
    now = pd.Timestamp.now(tz="UTC")
    files, _ = scan_landing(landing)
    found = landing_files_for_days(LandingIndex(tmp_path / "index.json"), files, {"2023-01-01", "2023-01-02"}, now,
                                   keep_bytes=0)
    wanted = found.readable
    assert found.kept == {} and reads == []
    windows = [DayWindow(d, pd.Timestamp(d, tz="UTC"), pd.Timestamp(d, tz="UTC") + pd.Timedelta(days=1))
               for d in ("2023-01-01", "2023-01-02")]
    days = dict(raw_rows_by_day(wanted, windows, now))
    assert days["2023-01-01"][["meter_id", "source_file", "source_row"]].values.tolist() == [["m1", "a.csv", 3], ["m2", "b.csv", 2]]
    assert days["2023-01-02"]["kwh"].tolist() == [2.0]
    assert sorted(p.rsplit("/", 1)[1] for p in reads) == ["a.csv", "b.csv"]  # a.csv parsed once for both its days
