"""Landing files as utilities export them: gzip, delimiters, decimal comma, encodings, wide layouts.

Every file is written to tmp_path here; every read checks that no row is dropped (rows out ==
data lines for a long file, lines x interval columns for a wide one).
"""

import datetime as dt
import gzip

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lascopf_assets.lib.ingest import landing
from lascopf_assets.lib.ingest.landing import (
    FORMAT_KEY,
    LandingFileError,
    covered_days,
    file_format,
    read_landing_table,
    refusal_reason,
    scan_landing,
)
from lascopf_assets.storage import s3_landing

LONG = [
    ("m1", "2023-01-01T00:00:00+00:00", "1.5"),
    ("m2", "2023-01-01T01:00:00+01:00", "2"),
    ("m3", "2023-01-01T23:00:00-02:00", "0.25"),  # 2023-01-02 01:00 UTC
]


def long_text(delimiter=",", rows=LONG, header=("meter_id", "timestamp", "kwh")):
    return "".join(delimiter.join(r) + "\n" for r in [header, *rows])


def read(path):
    table = read_landing_table(path)
    return table, table.to_pandas()


def labels(n, style="HH:MM"):
    step = 1440 // n
    if style == "HH:MM":
        return [f"{m // 60:02d}:{m % 60:02d}" for m in range(0, 1440, step)]
    if style == "HHMM":
        return [f"{m // 60:02d}{m % 60:02d}" for m in range(0, 1440, step)]
    return [f"{style}{j:02d}" if style else str(j) for j in range(1, n + 1)]


def wide_rows(n, meters=("M1", "M2"), day="2023-03-01", offset="+01:00"):
    """Wide rows whose cell j of meter i is i * 1000 + j (so each long row says where it came from)."""
    return [[m, day, offset] + [str(i * 1000 + j) for j in range(n)] for i, m in enumerate(meters)]


def wide_text(n, rows, delimiter=",", style="HH:MM", offset_column=True):
    header = ["meter_id", "date"] + (["utc_offset"] if offset_column else []) + labels(n, style)
    if not offset_column:
        rows = [r[:2] + r[3:] for r in rows]
    return "".join(delimiter.join(r) + "\n" for r in [header, *rows])


def utc(local: str, offset: str) -> pd.Timestamp:
    """The independent computation: pandas reads the local clock with its offset, converts to UTC."""
    return pd.Timestamp(f"{local}{offset}").tz_convert("UTC")


# --- names ----------------------------------------------------------------------------------


def test_csv_gz_names_are_accepted_everywhere(tmp_path):
    assert refusal_reason("meter_readings_2023-01-01.csv.gz") is None
    assert refusal_reason("x.gz") and refusal_reason("x.tar.gz") and refusal_reason("x.csv.zip")
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(long_text().encode()))
    (tmp_path / "b.gz").write_bytes(b"")
    files, refused = scan_landing(tmp_path)
    assert [f.name for f in files] == ["a.csv.gz"] and [name for name, _ in refused] == ["b.gz"]
    assert s3_landing.LANDING_SUFFIXES is landing.LANDING_SUFFIXES


# --- long layout: delimiters, decimal comma, encodings, compression --------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_long_csv_any_delimiter(tmp_path, delimiter):
    path = tmp_path / "long.csv"
    path.write_text(long_text(delimiter))
    table, df = read(path)
    assert len(df) == len(LONG)
    assert df["parse_error"].isna().all()
    assert df["kwh"].tolist() == [1.5, 2.0, 0.25]
    assert df["timestamp"].tolist() == [utc(t[:19], t[19:]) for _, t, _ in LONG]
    assert df["source_row"].tolist() == [2, 3, 4]
    assert file_format(table) == {"layout": "long", "compression": None, "delimiter": delimiter, "decimal": ".",
                                  "encoding": "utf-8", "interval_minutes": None}


def test_semicolon_decimal_comma_cp1252_file(tmp_path):
    text = (
        "meter_id;timestamp;kwh;voltage_pu\n"
        "Zähler-7;2023-01-01T00:00:00+01:00;0,125;1,02\n"
        "Zähler-8;2023-01-01T01:00:00+01:00;3.5;0,98\n"  # a point still reads as a point
        "Zähler-9;2023-01-01T02:00:00+01:00;1.234,5;1\n"  # no thousands separators
        "Zähler-9;2023-01-01T03:00:00+01:00;;1\n"
    )
    path = tmp_path / "eu.csv"
    path.write_bytes(text.encode("cp1252"))
    table, df = read(path)
    assert len(df) == 4
    assert df["meter_id"].tolist() == ["Zähler-7", "Zähler-8", "Zähler-9", "Zähler-9"]
    assert df["kwh"].tolist()[:2] == [0.125, 3.5] and df["voltage_pu"].tolist() == [1.02, 0.98, 1.0, 1.0]
    assert df["parse_error"].fillna("ok").tolist() == ["ok", "ok", "kwh_not_numeric", "kwh_missing"]
    assert "kwh=1.234,5" in df.loc[2, "raw_values"]  # the original text, not the normalised one
    assert file_format(table) == {"layout": "long", "compression": None, "delimiter": ";", "decimal": ",",
                                  "encoding": "cp1252", "interval_minutes": None}


def test_comma_is_not_a_decimal_outside_semicolon_files(tmp_path):
    path = tmp_path / "tab.csv"
    path.write_text("meter_id\ttimestamp\tkwh\nm1\t2023-01-01T00:00:00Z\t0,5\n")
    table, df = read(path)
    assert df["parse_error"].tolist() == ["kwh_not_numeric"] and file_format(table)["decimal"] == "."


@pytest.mark.parametrize("encoding,other", [("utf-8", "Ωmeter"), ("utf-8-sig", "Ωmeter"), ("cp1252", "Œmeter")])
def test_encodings_are_detected_and_recorded(tmp_path, encoding, other):
    text = long_text(rows=[("Zähler-7", "2023-01-01T00:00:00Z", "1"), (other, "2023-01-01T01:00:00Z", "2")])
    path = tmp_path / "enc.csv"
    path.write_bytes(text.encode(encoding))
    table, df = read(path)
    assert len(df) == 2 and df["parse_error"].isna().all()
    assert df["meter_id"].tolist() == ["Zähler-7", other]
    assert table.column_names[0] == "meter_id"  # the BOM is not part of the first name
    assert file_format(table)["encoding"] == encoding


def test_bytes_cp1252_leaves_undefined_read_as_latin1(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_bytes(b"meter_id,timestamp,kwh\nM\x81\xe4,2023-01-01T00:00:00Z,1\n")
    table, df = read(path)
    assert df["meter_id"].tolist() == ["M\x81ä"] and file_format(table)["encoding"] == "cp1252"


def test_cp1252_in_a_column_the_reader_does_not_use_is_found(tmp_path):
    path = tmp_path / "comment.csv"
    path.write_bytes("meter_id;timestamp;kwh;bemerkung\nm1;2023-01-01T00:00:00Z;0,5;geprüft\n".encode("cp1252"))
    table, df = read(path)
    assert file_format(table)["encoding"] == "cp1252" and df["kwh"].tolist() == [0.5] and df["parse_error"].isna().all()


def test_cp1252_only_after_the_first_block_is_still_found(tmp_path):
    rows = [(f"m{i}", "2023-01-01T00:00:00Z", "1") for i in range(20_000)] + [("Zähler", "2023-01-01T00:00:00Z", "1")]
    path = tmp_path / "late.csv"
    path.write_bytes(long_text(rows=rows).encode("cp1252"))
    table, df = read(path)
    assert len(df) == len(rows) and df["meter_id"].iloc[-1] == "Zähler" and file_format(table)["encoding"] == "cp1252"


def test_gzip_csv_reads_like_the_plain_file(tmp_path):
    text = long_text(";", rows=[*LONG, ("m4", "2023-01-01T02:00:00Z", "x,y,z")])
    (tmp_path / "plain.csv").write_text(text)
    (tmp_path / "packed.csv.gz").write_bytes(gzip.compress(text.encode()))
    plain, packed = read_landing_table(tmp_path / "plain.csv"), read_landing_table(tmp_path / "packed.csv.gz")
    columns = ["meter_id", "timestamp", "kwh", "parse_error", "raw_values", "source_row"]
    assert packed.select(columns).equals(plain.select(columns)) and packed.num_rows == 4
    assert file_format(packed) == {**file_format(plain), "compression": "gzip"}


# pyarrow reports the malformed line's undecodable text as "unraisable" before it fails the read
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_malformed_lines_keep_their_numbers_in_a_gzip_cp1252_file(tmp_path):
    text = "meter_id;timestamp;kwh\nZähler;2023-01-01T00:00:00Z;1\nZähler;2023-01-01T01:00:00Z;1;9\n\nZ;2023-01-01T02:00:00Z;2\n"
    path = tmp_path / "m.csv.gz"
    path.write_bytes(gzip.compress(text.encode("cp1252")))
    df = read_landing_table(path).to_pandas()
    assert df["source_row"].tolist() == [2, 3, 4, 5]
    assert df["parse_error"].fillna("ok").tolist() == ["ok", "malformed_row", "meter_id_missing", "ok"]
    assert df.loc[1, "raw_values"] == "Zähler;2023-01-01T01:00:00Z;1;9"


@pytest.mark.parametrize("content", [b"\x1f\x8b\x08\x00garbage", b"meter_id,timestamp,kwh\n", b""])
def test_corrupt_gzip_names_file_and_reason(tmp_path, content):
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(content)
    for reader in (read_landing_table, covered_days):
        with pytest.raises(LandingFileError, match=r"broken\.csv\.gz: not a readable gzip file \(.+\)"):
            reader(path)


def test_truncated_gzip_is_refused(tmp_path):
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(gzip.compress(long_text().encode())[:-12])
    with pytest.raises(LandingFileError, match="cut.csv.gz: not a readable gzip file"):
        read_landing_table(path)


# --- wide layout ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [24, 48, 96])
@pytest.mark.parametrize("style", ["HH:MM", "HHMM", "", "H", "I", "kwh_"])
def test_wide_csv_expands_every_cell(tmp_path, n, style):
    path = tmp_path / "wide.csv"
    rows = wide_rows(n, day="2023-03-01", offset="+01:00")
    path.write_text(wide_text(n, rows, style=style))
    table, df = read(path)
    assert len(df) == 2 * n  # lines x interval columns
    assert table.schema.remove_metadata().equals(landing.landing_schema([]))
    assert df["parse_error"].isna().all()
    minutes = 1440 // n
    expected = [utc(f"2023-03-01T{(j * minutes) // 60:02d}:{(j * minutes) % 60:02d}:00", "+01:00")
                for _ in range(2) for j in range(n)]
    assert df["timestamp"].tolist() == expected  # by line, then by interval
    assert df["kwh"].tolist() == [float(i * 1000 + j) for i in range(2) for j in range(n)]
    assert df["meter_id"].tolist() == ["M1"] * n + ["M2"] * n
    assert df["source_row"].tolist() == [2] * n + [3] * n
    assert file_format(table) == {"layout": "wide", "compression": None, "delimiter": ",", "decimal": ".",
                                  "encoding": "utf-8", "interval_minutes": minutes}


def test_wide_columns_in_any_order_come_out_in_time_order(tmp_path):
    names = labels(24)
    shuffled = names[::-1]
    text = ",".join(["meter_id", "date", "utc_offset", *shuffled]) + "\n"
    text += ",".join(["M1", "2023-03-01", "Z", *[str(int(n[:2])) for n in shuffled]]) + "\n"
    (tmp_path / "r.csv").write_text(text)
    df = read_landing_table(tmp_path / "r.csv").to_pandas()
    assert df["kwh"].tolist() == [float(h) for h in range(24)]
    assert df["timestamp"].is_monotonic_increasing


@pytest.mark.parametrize("offset", ["+01:00", "-05:00", "Z", "+0530", "+02"])
def test_wide_offsets_convert_to_utc(tmp_path, offset):
    path = tmp_path / "o.csv"
    path.write_text(wide_text(96, wide_rows(96, meters=("M1",), day="2023-10-29", offset=offset)))
    df = read_landing_table(path).to_pandas()
    pandas_offset = {"Z": "+00:00", "+0530": "+05:30", "+02": "+02:00"}.get(offset, offset)
    local = pd.date_range("2023-10-29", periods=96, freq="15min").strftime("%Y-%m-%dT%H:%M:%S")
    assert df["timestamp"].tolist() == [utc(t, pandas_offset) for t in local]
    assert len(df) == 96 and df["parse_error"].isna().all()


def test_wide_without_offset_is_flagged_never_assumed_utc(tmp_path):
    path = tmp_path / "naive.csv"
    path.write_text(wide_text(24, wide_rows(24), offset_column=False))
    df = read_landing_table(path).to_pandas()
    assert len(df) == 48
    assert (df["parse_error"] == "timestamp_without_utc_offset").all()
    assert df["raw_values"].iloc[1] == "meter_id=M1;date=2023-03-01;column=01:00;kwh=1"


def test_wide_cells_and_offsets_are_judged_per_row(tmp_path):
    rows = wide_rows(24, meters=("M1", "M2", "M3", "M4", "M5"))
    rows[0][3 + 1] = "n/a"  # M1 01:00
    rows[0][3 + 2] = ""  # M1 02:00
    rows[1][2] = ""  # M2: empty offset
    rows[2][2] = "+25:00"  # M3: invalid offset
    rows[3][1] = "01.03.2023"  # M4: not YYYY-MM-DD
    rows[4][1] = ""  # M5: no date
    path = tmp_path / "judged.csv"
    path.write_text(wide_text(24, rows))
    df = read_landing_table(path).to_pandas()
    assert len(df) == 5 * 24
    by_meter = df.groupby("meter_id")["parse_error"].apply(lambda s: s.fillna("ok").unique().tolist()).to_dict()
    assert by_meter == {
        "M1": ["ok", "kwh_not_numeric", "kwh_missing"],
        "M2": ["timestamp_without_utc_offset"],
        "M3": ["timestamp_unparseable"],
        "M4": ["timestamp_unparseable"],
        "M5": ["timestamp_missing"],
    }
    assert df.loc[1, "raw_values"] == "meter_id=M1;date=2023-03-01;utc_offset=+01:00;column=01:00;kwh=n/a"
    # rows without an instant are routed to the file's first day (00:00 UTC of 2023-02-28 here)
    assert (df.loc[df["meter_id"].isin(["M3", "M4", "M5"]), "timestamp"] == pd.Timestamp("2023-02-28", tz="UTC")).all()
    assert df["source_row"].tolist() == list(np.repeat(np.arange(2, 7), 24))


def test_wide_semicolon_decimal_comma_gzip_cp1252(tmp_path):
    rows = [["Zähler-7", "2023-03-01", "+01:00"] + ["0,25"] * 48]
    path = tmp_path / "eu.csv.gz"
    path.write_bytes(gzip.compress(wide_text(48, rows, delimiter=";").encode("cp1252")))
    table, df = read(path)
    assert len(df) == 48 and df["parse_error"].isna().all()
    assert (df["kwh"] == 0.25).all() and (df["meter_id"] == "Zähler-7").all()
    assert file_format(table) == {"layout": "wide", "compression": "gzip", "delimiter": ";", "decimal": ",",
                                  "encoding": "cp1252", "interval_minutes": 30}


@pytest.mark.parametrize("n", [24, 48, 96])
def test_wide_parquet(tmp_path, n):
    cells = {name: pa.array(np.arange(3, dtype=np.float64) + j) for j, name in enumerate(labels(n))}
    table = pa.table({"meter_id": ["A", "B", "C"], "date": pa.array([dt.date(2023, 3, 1)] * 2 + [dt.date(2023, 3, 2)]),
                      "utc_offset": ["-05:00", "+01:00", None], **cells})
    path = tmp_path / "wide.parquet"
    pq.write_table(table, path)
    out, df = read(path)
    assert len(df) == 3 * n
    minutes = 1440 // n
    first = df.groupby("meter_id")["timestamp"].first().to_dict()
    assert first == {"A": utc("2023-03-01T00:00:00", "-05:00"), "B": utc("2023-03-01T00:00:00", "+01:00"),
                     "C": pd.Timestamp("2023-03-02", tz="UTC")}
    assert df["parse_error"].fillna("ok").tolist() == ["ok"] * 2 * n + ["timestamp_without_utc_offset"] * n
    assert df["kwh"].tolist() == [float(i + j) for i in range(3) for j in range(n)]
    assert df["source_row"].tolist() == [1] * n + [2] * n + [3] * n
    assert file_format(out) == {"layout": "wide", "compression": None, "delimiter": None, "decimal": ".",
                                "encoding": None, "interval_minutes": minutes}


def test_wide_parquet_with_text_dates_and_cells(tmp_path):
    cells = {name: pa.array(["1.5", "x"]) for name in labels(24, "")}
    pq.write_table(pa.table({"meter_id": ["A", "B"], "date": ["2023-03-01", "2023-03-01"], "utc_offset": ["Z", "Z"],
                             **cells}), tmp_path / "t.parquet")
    df = read_landing_table(tmp_path / "t.parquet").to_pandas()
    assert len(df) == 48
    assert df["parse_error"].fillna("ok").tolist() == ["ok"] * 24 + ["kwh_not_numeric"] * 24


@pytest.mark.parametrize(
    "names,reason",
    [
        (labels(96)[:95], "wide layout: 95 interval column(s); expected 24, 48 or 96"),
        (labels(24) + ["unit"], "wide layout: 25 interval column(s), 1 not an interval label"),
        (labels(24, "HH:MM")[:12] + labels(24, "")[12:], "wide layout: 24 interval columns mix label styles"),
        ([f"{h:02d}:00" for h in range(1, 25)], "not the interval starts 00:00..23:00 (e.g. '24:00')"),
        ([str(j) for j in range(0, 24)], "not the ordinals 1..24 (e.g. '0')"),
    ],
)
def test_bad_wide_headers_name_file_and_count(tmp_path, names, reason):
    path = tmp_path / "bad_wide.csv"
    path.write_text(",".join(["meter_id", "date", "utc_offset", *names]) + "\nM1,2023-03-01,Z," + ",".join("1" * len(names)) + "\n")
    for reader in (read_landing_table, covered_days):
        with pytest.raises(LandingFileError) as err:
            reader(path)
        assert "bad_wide.csv" in str(err.value) and reason in str(err.value)


@pytest.mark.parametrize(
    "header,missing",
    [
        ("a;b;c", "missing required column(s) meter_id, timestamp, kwh"),
        ("meter_id;timestamp", "missing required column(s) kwh"),
        ("date\t00:00", "missing required column(s) meter_id"),
    ],
)
def test_missing_columns_are_named_whatever_the_delimiter(tmp_path, header, missing):
    path = tmp_path / "cols.csv"
    path.write_text(header + "\n1;2;3\n")
    with pytest.raises(LandingFileError) as err:
        read_landing_table(path)
    assert "cols.csv" in str(err.value) and missing in str(err.value)


# --- covered_days ---------------------------------------------------------------------------


def test_covered_days_of_each_layout(tmp_path):
    long_csv = tmp_path / "long.csv"
    long_csv.write_text(long_text())
    semi = tmp_path / "semi.csv"
    semi.write_bytes(long_text(";", rows=[("Zähler", "2023-01-05T23:30:00-01:00", "0,1")]).encode("cp1252"))
    packed = tmp_path / "packed.csv.gz"
    packed.write_bytes(gzip.compress(long_text("\t").encode("utf-8-sig")))
    wide_csv = tmp_path / "wide.csv"
    wide_csv.write_text(wide_text(96, wide_rows(96, offset="-05:00")))
    naive = tmp_path / "naive.csv"
    naive.write_text(wide_text(24, wide_rows(24), offset_column=False))
    long_pq = tmp_path / "long.parquet"
    pq.write_table(pa.table({"meter_id": ["m"], "timestamp": pa.array([pd.Timestamp("2023-02-01T12:00Z")])}), long_pq)
    wide_pq = tmp_path / "wide.parquet"
    pq.write_table(pa.table({"meter_id": ["m"], "date": ["2023-03-01"], "utc_offset": ["+01:00"],
                             **{name: [1.0] for name in labels(24)}}), wide_pq)
    assert covered_days(long_csv) == ["2023-01-01", "2023-01-02"]
    assert covered_days(semi) == ["2023-01-06"]
    assert covered_days(packed) == ["2023-01-01", "2023-01-02"]
    assert covered_days(wide_csv) == ["2023-03-01", "2023-03-02"]  # 05:00Z .. 04:45Z next day
    assert covered_days(naive) == ["2023-03-01"]  # as the reader places the flagged rows
    assert covered_days(long_pq) == ["2023-02-01"]  # no kwh column needed
    assert covered_days(wide_pq) == ["2023-02-28", "2023-03-01"]
    for path in (long_csv, semi, packed, wide_csv, naive, wide_pq):  # the same days as the rows
        days = landing.utc_days(read_landing_table(path).column("timestamp").cast(pa.int64()).to_numpy())
        assert covered_days(path) == days


def test_covered_days_needs_only_the_time_columns(tmp_path):
    path = tmp_path / "t.csv"
    # a malformed line is routed to the file's first day by the reader: it adds no day
    path.write_text("timestamp;other\n2023-04-01T00:00:00+02:00;x\n2023-04-01T23:00:00Z;y\n2023-04-03T00:00:00Z;y;z\nnot a time;x\n")
    assert covered_days(path) == ["2023-03-31", "2023-04-01"]
    wide = tmp_path / "w.csv"
    wide.write_text("date,utc_offset," + ",".join(labels(24)) + "\n2023-04-01,Z," + ",".join("?" * 24) + "\n")
    assert covered_days(wide) == ["2023-04-01"]


@pytest.mark.parametrize(
    "text,reason",
    [
        ("meter_id,timestamp,kwh\nm,nope,1\n", "no row has a readable timestamp"),
        ("meter_id,kwh\nm,1\n", "missing required column(s) timestamp"),
        ("meter_id,date,utc_offset," + ",".join(labels(24)) + "\nm,2023-04-01,+99:00," + ",".join("1" * 24) + "\n",
         "no row has a readable timestamp"),
    ],
)
def test_covered_days_refuses_files_without_a_day(tmp_path, text, reason):
    path = tmp_path / "none.csv"
    path.write_text(text)
    with pytest.raises(LandingFileError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        covered_days(path)


def test_format_record_is_schema_metadata(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(long_text())
    table = read_landing_table(path)
    assert FORMAT_KEY == b"lascopf.format" and FORMAT_KEY in table.schema.metadata
    with pytest.raises(ValueError, match="no landing file format"):
        file_format(table.replace_schema_metadata(None))
