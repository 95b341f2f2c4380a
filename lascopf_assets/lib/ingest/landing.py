"""Landing files: which ones there are, and reading one into typed rows with provenance.

A landing file is a CSV or Parquet file directly inside the landing folder with
at least the columns ``meter_id, timestamp, kwh`` (see docs/CONVENTIONS.md).

Reading never drops a row. Each row comes back with its provenance
(``source_file``, ``source_row`` = the physical line number in a CSV, counting
the header as line 1, or the 1-based row number in a Parquet file) and, where
a field could not be parsed, a ``parse_error`` code plus the original text in
``raw_values``. A row whose timestamp cannot be read is routed to the first day
that the rest of its file covers (its ``timestamp`` is then that day's start,
and ``parse_error`` says why), so it reaches that day's quarantine.

A file that cannot be read at all (not CSV/Parquet, required columns missing,
no readable timestamp in it) raises :class:`LandingFileError` naming the file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

REQUIRED_COLUMNS = ("meter_id", "timestamp", "kwh")
SCADA_COLUMNS = ("voltage_pu", "power_factor", "frequency_hz", "active_power_kw")
LANDING_SUFFIXES = (".csv", ".parquet")
UTC_MICROS = pa.timestamp("us", tz="UTC")

# A landing file name: no directories, no hidden or temporary files, one of the suffixes.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.(csv|parquet)$")
_HAS_OFFSET = r"(?:Z|[+-]\d{2}(?::?\d{2})?)$"

# parse_error codes, in the order a row is judged (the first one found is kept)
MALFORMED_ROW = "malformed_row"
METER_ID_MISSING = "meter_id_missing"
TIMESTAMP_MISSING = "timestamp_missing"
TIMESTAMP_UNPARSEABLE = "timestamp_unparseable"
TIMESTAMP_NO_OFFSET = "timestamp_without_utc_offset"
KWH_MISSING = "kwh_missing"
KWH_NOT_NUMERIC = "kwh_not_numeric"
SCADA_NOT_NUMERIC = "scada_value_not_numeric"


class LandingFileError(ValueError):
    """A landing file that cannot be ingested at all."""

    def __init__(self, path: str | os.PathLike, reason: str, line: int | None = None):
        self.path = str(path)
        self.reason = reason
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class LandingFile:
    """A file in the landing folder with the identity used for exactly-once ingestion."""

    name: str
    path: str
    size: int
    mtime_ns: int

    @property
    def identity(self) -> str:
        return f"{self.name}:{self.size}:{self.mtime_ns}"


def refusal_reason(name: str) -> str | None:
    """Why a file name is not ingested, or None when it is acceptable."""
    if "/" in name or "\\" in name or ".." in name:
        return "path separators or '..' are not allowed in landing file names"
    if not name.lower().endswith(LANDING_SUFFIXES):
        return "not a .csv or .parquet file"
    if not _SAFE_NAME.match(name):
        return "name must start with a letter or digit and use only letters, digits, '.', '_' and '-'"
    return None


def scan_landing(folder: str | os.PathLike) -> tuple[list[LandingFile], list[tuple[str, str]]]:
    """Files directly in ``folder`` (sorted by name) and the names refused with their reason.

    One ``scandir`` and one ``stat`` per entry: nothing is opened. Symbolic
    links and sub-folders are refused, so nothing outside the folder is read.
    """
    accepted: list[LandingFile] = []
    refused: list[tuple[str, str]] = []
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        return accepted, refused
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden and in-flight temporary files are not candidates yet
            if entry.is_symlink():
                refused.append((entry.name, "symbolic links are not followed"))
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            reason = refusal_reason(entry.name)
            if reason:
                refused.append((entry.name, reason))
                continue
            st = entry.stat(follow_symlinks=False)
            accepted.append(LandingFile(entry.name, entry.path, st.st_size, st.st_mtime_ns))
    accepted.sort(key=lambda f: f.name)
    refused.sort()
    return accepted, refused


# --- reading -------------------------------------------------------------------------


def _csv_table(path: str) -> tuple[pa.Table, np.ndarray, list[str], np.ndarray]:
    """The CSV's rows as strings, their line numbers, and the malformed lines' text and numbers."""
    malformed: list[str] = []

    def keep_text(row: pcsv.InvalidRow) -> str:
        malformed.append(row.text)
        return "skip"

    known = (*REQUIRED_COLUMNS, *SCADA_COLUMNS)
    try:
        table = pcsv.read_csv(
            path,
            parse_options=pcsv.ParseOptions(invalid_row_handler=keep_text, ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in known}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise LandingFileError(path, f"not a readable CSV file ({str(exc).splitlines()[0]})") from exc
    if not malformed:
        return table, np.arange(2, table.num_rows + 2, dtype=np.int64), [], np.empty(0, dtype=np.int64)
    # pyarrow does not number the rows it skips: find them among the physical lines.
    lines = Path(path).read_bytes().decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    is_malformed = np.zeros(len(lines), dtype=bool)
    cursor = 1
    for text in malformed:
        while cursor < len(lines) and lines[cursor].rstrip("\r") != text.rstrip("\r"):
            cursor += 1
        if cursor < len(lines):
            is_malformed[cursor] = True
            cursor += 1
    line_numbers = np.arange(1, len(lines) + 1, dtype=np.int64)
    good_lines = line_numbers[1:][~is_malformed[1:]]
    if len(good_lines) != table.num_rows:  # e.g. quoted newlines: fall back to row order
        good_lines = np.arange(2, table.num_rows + 2, dtype=np.int64)
    return table, good_lines, malformed, line_numbers[is_malformed]


def _parse_timestamps(column: pa.ChunkedArray) -> tuple[pd.Series, np.ndarray]:
    """UTC timestamps and a parse-error code per row (None where fine)."""
    errors = np.full(len(column), None, dtype=object)
    if pa.types.is_timestamp(column.type):
        if column.type.tz is None:
            errors[:] = TIMESTAMP_NO_OFFSET
            column = pc.assume_timezone(column, "UTC")
        ts = pc.cast(column, UTC_MICROS).to_pandas()
        errors[ts.isna().to_numpy()] = TIMESTAMP_MISSING
        return ts, errors
    try:
        return pc.cast(column, UTC_MICROS).to_pandas(), errors
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    text = column.to_pandas().astype("str")
    stripped = text.str.strip()
    parsed = pd.to_datetime(stripped, errors="coerce", utc=True, format="ISO8601").dt.as_unit("us")
    empty = (stripped == "").to_numpy()
    unparsed = parsed.isna().to_numpy()
    no_offset = ~stripped.str.contains(_HAS_OFFSET, regex=True).to_numpy()
    errors[~unparsed & no_offset] = TIMESTAMP_NO_OFFSET
    errors[unparsed] = TIMESTAMP_UNPARSEABLE
    errors[empty] = TIMESTAMP_MISSING
    return parsed, errors


def _parse_numbers(column: pa.ChunkedArray, missing_code: str | None, bad_code: str) -> tuple[np.ndarray, np.ndarray]:
    """float64 values and a parse-error code per row (None where fine)."""
    errors = np.full(len(column), None, dtype=object)
    if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
        values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        if missing_code:
            errors[np.isnan(values) & np.asarray(column.is_null())] = missing_code
        return values, errors
    try:
        return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), errors
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    text = column.to_pandas().astype("str").str.strip()
    values = np.array(pd.to_numeric(text, errors="coerce"), dtype=np.float64)  # writable copy
    empty = (text == "").to_numpy()
    spelled_nan = text.str.lower().isin(["nan", "+nan", "-nan"]).to_numpy()  # a number, judged as not finite
    errors[np.isnan(values) & ~empty & ~spelled_nan] = bad_code
    if missing_code:
        errors[empty] = missing_code
    else:
        values[empty] = np.nan
    return values, errors


def _read_source(path: str) -> tuple[pa.Table, np.ndarray, list[str], np.ndarray]:
    if path.lower().endswith(".csv"):
        table, rows, malformed_text, malformed_lines = _csv_table(path)
    elif path.lower().endswith(".parquet"):
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise LandingFileError(path, f"not a readable Parquet file ({exc})") from exc
        rows = np.arange(1, table.num_rows + 1, dtype=np.int64)
        malformed_text, malformed_lines = [], np.empty(0, dtype=np.int64)
    else:
        raise LandingFileError(path, "not a .csv or .parquet file")
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise LandingFileError(path, f"missing required column(s) {', '.join(missing)}", line=1)
    return table, rows, malformed_text, malformed_lines


def landing_schema(scada: list[str]) -> pa.Schema:
    """The Arrow schema of parsed landing rows (SCADA columns only where present)."""
    return pa.schema(
        [("meter_id", pa.string()), ("timestamp", UTC_MICROS), ("kwh", pa.float64())]
        + [(c, pa.float64()) for c in scada]
        + [("parse_error", pa.string()), ("raw_values", pa.string()), ("source_file", pa.string()),
           ("source_row", pa.int64()), ("ingested_at", UTC_MICROS)]
    )


def _clean_table(table: pa.Table, rows: np.ndarray, name: str, ingested_at: pd.Timestamp) -> pa.Table | None:
    """The fast path: every value parses. None when any row needs the forgiving path."""
    ts = table.column("timestamp")
    if pa.types.is_timestamp(ts.type) and ts.type.tz is None:
        return None  # naive instants must be flagged row by row
    meter = table.column("meter_id")
    if not (pa.types.is_string(meter.type) or pa.types.is_large_string(meter.type)):
        return None
    scada = [c for c in SCADA_COLUMNS if c in table.column_names]
    try:
        columns = {
            "meter_id": pc.utf8_trim_whitespace(pc.cast(meter, pa.string())),
            "timestamp": pc.cast(ts, UTC_MICROS),
            "kwh": pc.cast(table.column("kwh"), pa.float64()),
            **{c: pc.cast(table.column(c), pa.float64()) for c in scada},
        }
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if any(col.null_count for col in columns.values()) or pc.any(pc.equal(columns["meter_id"], "")).as_py():
        return None
    n = table.num_rows
    file_codes = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([name]))
    stamp = pa.array(np.full(n, ingested_at.value // 1000, dtype=np.int64)).cast(UTC_MICROS)
    columns.update(
        parse_error=pa.nulls(n, pa.string()),
        raw_values=pa.nulls(n, pa.string()),
        source_file=pc.cast(file_codes, pa.string()),
        source_row=pa.array(rows, pa.int64()),
        ingested_at=stamp,
    )
    return pa.table(columns, schema=landing_schema(scada))


def read_landing_table(path: str | os.PathLike, ingested_at: pd.Timestamp | None = None) -> pa.Table:
    """All rows of one landing file, typed, with provenance and parse errors (see module doc)."""
    path = os.fspath(path)
    ingested_at = (ingested_at or pd.Timestamp.now(tz="UTC")).as_unit("us")
    table, rows, malformed_text, malformed_lines = _read_source(path)
    if not malformed_text:
        clean = _clean_table(table, rows, os.path.basename(path), ingested_at)
        if clean is not None:
            return clean
    frame = _forgiving_frame(path, table, rows, malformed_text, malformed_lines, ingested_at)
    scada = [c for c in SCADA_COLUMNS if c in frame.columns]
    return pa.Table.from_pandas(frame, preserve_index=False).select(landing_schema(scada).names).cast(landing_schema(scada))


def read_landing_file(path: str | os.PathLike, ingested_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """``read_landing_table`` as a pandas DataFrame."""
    return read_landing_table(path, ingested_at).to_pandas()


def _forgiving_frame(
    path: str, table: pa.Table, rows: np.ndarray, malformed_text: list[str], malformed_lines: np.ndarray,
    ingested_at: pd.Timestamp,
) -> pd.DataFrame:
    """Rows with parse errors coded one by one (the path for files with any bad value)."""
    name = os.path.basename(path)
    n = table.num_rows
    timestamps, ts_err = _parse_timestamps(table.column("timestamp"))
    kwh, kwh_err = _parse_numbers(table.column("kwh"), KWH_MISSING, KWH_NOT_NUMERIC)
    meter = table.column("meter_id")
    if not pa.types.is_string(meter.type) and not pa.types.is_large_string(meter.type):
        meter = pc.cast(meter, pa.string())
    meter_ids = meter.to_pandas().astype("str").str.strip()
    meter_err = np.where((meter_ids == "").to_numpy() | meter_ids.isna().to_numpy(), METER_ID_MISSING, None)

    out = pd.DataFrame({"meter_id": meter_ids, "timestamp": timestamps, "kwh": kwh})
    raw_parts = {}
    scada_err = np.full(n, None, dtype=object)
    for col in SCADA_COLUMNS:
        if col in table.column_names:
            out[col], err = _parse_numbers(table.column(col), None, SCADA_NOT_NUMERIC)
            scada_err = np.where(pd.isna(scada_err), err, scada_err)
            raw_parts[col] = table.column(col)

    # first error wins, in the documented order
    parse_error = meter_err.astype(object)
    for err in (ts_err, kwh_err, scada_err):
        parse_error = np.where(pd.isna(parse_error), err, parse_error)
    bad = ~pd.isna(parse_error)

    raw_values = np.full(n, None, dtype=object)
    if bad.any():
        cols = {"meter_id": table.column("meter_id"), "timestamp": table.column("timestamp"), "kwh": table.column("kwh")}
        cols.update(raw_parts)
        texts = {k: np.asarray(pc.cast(v, pa.string()).to_pylist(), dtype=object)[bad] for k, v in cols.items()}
        raw_values[bad] = [
            ";".join(f"{k}={texts[k][i]}" for k in texts) for i in range(int(bad.sum()))
        ]

    # route rows without a usable timestamp to the first day the file covers
    unusable = pd.isna(out["timestamp"]).to_numpy()
    if unusable.all() and n:
        raise LandingFileError(path, "no row has a readable timestamp")
    first_day = out["timestamp"][~unusable].min().floor("D") if n else None

    out["parse_error"] = pd.Series(parse_error, dtype="str").where(bad, None)
    out["raw_values"] = pd.Series(raw_values, dtype="str").where(bad, None)

    if len(malformed_text):
        if first_day is None:
            raise LandingFileError(path, "no row has a readable timestamp")
        extra = pd.DataFrame(
            {
                "meter_id": pd.Series([None] * len(malformed_text), dtype="str"),
                "timestamp": pd.Series([first_day] * len(malformed_text), dtype=out["timestamp"].dtype),
                "kwh": np.nan,
                "parse_error": MALFORMED_ROW,
                "raw_values": malformed_text,
            }
        )
        for col in SCADA_COLUMNS:
            if col in out:
                extra[col] = np.nan
        out = pd.concat([out, extra], ignore_index=True)
        rows = np.concatenate([rows, malformed_lines[: len(malformed_text)]])
        unusable = np.concatenate([unusable, np.zeros(len(malformed_text), dtype=bool)])

    if unusable.any():
        out.loc[unusable, "timestamp"] = first_day
    out["source_file"] = name
    out["source_row"] = rows
    out["ingested_at"] = ingested_at
    out = out.sort_values("source_row", kind="stable", ignore_index=True) if len(malformed_text) else out
    return out


def utc_days(micros: np.ndarray) -> list[str]:
    """Sorted day keys (YYYY-MM-DD, UTC) that int64 microsecond timestamps fall on."""
    days = np.unique(np.asarray(micros, dtype=np.int64).astype("datetime64[us]").astype("datetime64[D]"))
    return [str(d) for d in days]
