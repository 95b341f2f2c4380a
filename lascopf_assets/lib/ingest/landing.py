"""Landing files: which ones there are, and reading one into typed rows with provenance.

A landing file is a CSV (also gzip-compressed, ``.csv.gz``) or Parquet file directly inside
the landing folder, in the long layout (at least ``meter_id, timestamp, kwh``) or the wide one
(``meter_id, date[, utc_offset]`` and 24, 48 or 96 interval columns); delimiter, encoding and
decimal comma are detected (:mod:`lascopf_assets.lib.ingest.file_layouts`; the layouts are in
docs/CONVENTIONS.md, "Landing file layouts"). The detected format is recorded in the parsed
table's schema metadata (:data:`FORMAT_KEY`, read back with :func:`file_format`).

Reading never drops a row. Each row comes back with its provenance
(``source_file``, ``source_row`` = the physical line number in a CSV, counting
the header as line 1, or the 1-based row number in a Parquet file; a wide row's
intervals all carry its line) and, where a field could not be parsed, a
``parse_error`` code plus the original text in ``raw_values``. A row whose
timestamp cannot be read is routed to the first day that the rest of its file
covers (its ``timestamp`` is then that day's start, and ``parse_error`` says
why), so it reaches that day's quarantine.

A file that cannot be read at all (not CSV/Parquet, required columns missing,
no readable timestamp in it) raises :class:`LandingFileError` naming the file.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lascopf_assets.lib.ingest.file_layouts import (
    FORMAT_KEY,
    LONG_COLUMNS,
    OFFSET_COLUMN,
    LandingFileError,
    Source,
    day_starts_us,
    read_source,
    read_time_columns,
    utc_offsets_us,
)

REQUIRED_COLUMNS = LONG_COLUMNS
SCADA_COLUMNS = ("voltage_pu", "power_factor", "frequency_hz", "active_power_kw")
LANDING_SUFFIXES = (".csv", ".csv.gz", ".parquet")
UTC_MICROS = pa.timestamp("us", tz="UTC")
_DAY_US = 86_400_000_000

# A landing file name: no directories, no hidden or temporary files, one of the suffixes.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.(csv|csv\.gz|parquet)$")
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


@dataclass(frozen=True)
class LandingFile:
    """A file in the landing folder with the identity used for exactly-once ingestion."""

    name: str
    path: str
    size: int
    mtime_ns: int
    source: str | None = None  # what the file is known as when it is a copy (an S3 object's bucket/key); None: name

    @property
    def shown(self) -> str:
        """The file as users know it: ``source_file`` of its rows, the name in rejections and per-file tables."""
        return self.source or self.name

    @property
    def identity(self) -> str:
        return f"{self.shown}:{self.size}:{self.mtime_ns}"


_BYTES_LITERAL = re.compile(r"""\bb(['"])(?:\\.|(?!\1).)*\1""")


def printable_reason(reason: str, path: str | os.PathLike | None = None, shown: str | None = None) -> str:
    """``reason`` as one printable line that names the file as users know it: the local ``path`` (and its base
    name) replaced by ``shown``, Python byte literals (``b'\\x1f\\x8b'``) by ``<bytes>``, anything not printable by
    ``?``, whitespace runs by one space; at most 300 characters."""
    if path is not None:
        path = os.fspath(path)
        shown = shown or os.path.basename(path)
        reason = reason.replace(path, shown)
        if os.path.basename(path) != shown:
            reason = reason.replace(os.path.basename(path), shown)
    reason = _BYTES_LITERAL.sub("<bytes>", reason)
    reason = "".join(c if c.isprintable() else "?" for c in " ".join(reason.split()))
    return reason if len(reason) <= 300 else reason[:299] + "…"


def refusal_reason(name: str) -> str | None:
    """Why a file name is not ingested, or None when it is acceptable."""
    if "/" in name or "\\" in name or ".." in name:
        return "path separators or '..' are not allowed in landing file names"
    if not name.lower().endswith(LANDING_SUFFIXES):
        return "not a .csv, .csv.gz or .parquet file"
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


def _decimal_point(column: pa.ChunkedArray, decimal: str) -> pa.ChunkedArray:
    """Number text with a decimal comma (``0,125``) as ``0.125``, in a file whose decimal is ``,``."""
    if decimal == "," and (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return pc.replace_substring(column, ",", ".")
    return column


def _parse_numbers(
    column: pa.ChunkedArray, missing_code: str | None, bad_code: str, decimal: str = "."
) -> tuple[np.ndarray, np.ndarray]:
    """float64 values and a parse-error code per row (None where fine)."""
    column = _decimal_point(column, decimal)
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


def landing_schema(scada: list[str]) -> pa.Schema:
    """The Arrow schema of parsed landing rows (SCADA columns only where present)."""
    return pa.schema(
        [("meter_id", pa.string()), ("timestamp", UTC_MICROS), ("kwh", pa.float64())]
        + [(c, pa.float64()) for c in scada]
        + [("parse_error", pa.string()), ("raw_values", pa.string()), ("source_file", pa.string()),
           ("source_row", pa.int64()), ("ingested_at", UTC_MICROS)]
    )


def _wide_timestamps(source: Source) -> tuple[pa.Array, np.ndarray]:
    """A wide file's long rows' UTC instants (null where unusable) and timestamp parse-error codes.

    Each wide row's instant is its date's midnight in its ``utc_offset``, plus the interval's
    start; without an offset it is the local clock read as UTC and flagged, as a long file's naive
    timestamps are. Judged once per wide row, then repeated for its intervals.
    """
    wide = source.wide
    day_us, date_empty, date_bad = day_starts_us(wide.column("date"))
    offsets = wide.column(OFFSET_COLUMN) if OFFSET_COLUMN in wide.column_names else None
    offset_us, offset_empty, offset_bad = utc_offsets_us(offsets, wide.num_rows)
    codes = np.full(wide.num_rows, None, dtype=object)
    codes[offset_empty] = TIMESTAMP_NO_OFFSET
    codes[offset_bad] = TIMESTAMP_UNPARSEABLE
    codes[date_bad] = TIMESTAMP_UNPARSEABLE
    codes[date_empty] = TIMESTAMP_MISSING
    usable = ~(date_empty | date_bad | offset_bad)
    micros = (day_us - offset_us)[source.wide_row] + source.step_us
    timestamps = pa.array(micros, type=pa.int64(), mask=~usable[source.wide_row]).cast(UTC_MICROS)
    return timestamps, codes[source.wide_row]


def _with_format(table: pa.Table, source: Source) -> pa.Table:
    return table.replace_schema_metadata({FORMAT_KEY: source.format.to_json()})


def _clean_table(source: Source, name: str, ingested_at: pd.Timestamp) -> pa.Table | None:
    """The fast path: every value parses. None when any row needs the forgiving path."""
    table, decimal = source.table, source.format.decimal
    if source.wide is not None:
        ts, ts_err = _wide_timestamps(source)
        if not pd.isna(ts_err).all():
            return None
    else:
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
            "kwh": pc.cast(_decimal_point(table.column("kwh"), decimal), pa.float64()),
            **{c: pc.cast(_decimal_point(table.column(c), decimal), pa.float64()) for c in scada},
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
        source_row=pa.array(source.rows, pa.int64()),
        ingested_at=stamp,
    )
    return pa.table(columns, schema=landing_schema(scada))


def read_landing_table(path: str | os.PathLike, ingested_at: pd.Timestamp | None = None, shown: str | None = None) -> pa.Table:
    """All rows of one landing file, typed, with provenance and parse errors (see module doc).

    ``shown``: what the rows' ``source_file`` and any ``LandingFileError`` name the file (a local copy's original,
    e.g. an S3 object's ``bucket/key``); default its file name. The file's detected format is in the schema
    metadata under :data:`FORMAT_KEY` (:func:`file_format`).
    """
    path = os.fspath(path)
    ingested_at = (ingested_at or pd.Timestamp.now(tz="UTC")).as_unit("us")
    try:
        return _read_table(path, ingested_at, shown or os.path.basename(path))
    except LandingFileError as exc:
        if shown is None:
            raise
        raise LandingFileError(shown, printable_reason(exc.reason, path, shown), exc.line) from exc


def _read_table(path: str, ingested_at: pd.Timestamp, name: str) -> pa.Table:
    source = read_source(path, (*REQUIRED_COLUMNS, *SCADA_COLUMNS), ("kwh", *SCADA_COLUMNS))
    if not source.malformed_text:
        clean = _clean_table(source, name, ingested_at)
        if clean is not None:
            return _with_format(clean, source)
    frame = _forgiving_frame(path, source, ingested_at, name)
    schema = landing_schema([c for c in SCADA_COLUMNS if c in frame.columns])
    return _with_format(pa.Table.from_pandas(frame, preserve_index=False).select(schema.names).cast(schema), source)


def read_landing_file(path: str | os.PathLike, ingested_at: pd.Timestamp | None = None, shown: str | None = None) -> pd.DataFrame:
    """``read_landing_table`` as a pandas DataFrame."""
    return read_landing_table(path, ingested_at, shown).to_pandas()


def file_format(table: pa.Table) -> dict:
    """The format ``read_landing_table`` detected for the file of ``table`` (layout, compression,
    delimiter, decimal, encoding, interval_minutes); raises ValueError when none is recorded."""
    metadata = table.schema.metadata or {}
    if FORMAT_KEY not in metadata:
        raise ValueError(f"no landing file format recorded in the table's schema metadata ({FORMAT_KEY!r})")
    return json.loads(metadata[FORMAT_KEY])


def _raw_columns(source: Source) -> dict[str, pa.ChunkedArray]:
    """The columns whose text ``raw_values`` shows for a bad row."""
    table = source.table
    if source.wide is None:
        cols = {"meter_id": table.column("meter_id"), "timestamp": table.column("timestamp"), "kwh": table.column("kwh")}
        cols.update({c: table.column(c) for c in SCADA_COLUMNS if c in table.column_names})
        return cols
    take = pa.array(source.wide_row)
    cols = {"meter_id": table.column("meter_id")}
    cols.update({c: pc.take(source.wide.column(c), take) for c in ("date", OFFSET_COLUMN) if c in source.wide.column_names})
    cols.update(column=table.column("column"), kwh=table.column("kwh"))
    return cols


def _forgiving_frame(path: str, source: Source, ingested_at: pd.Timestamp, name: str) -> pd.DataFrame:
    """Rows with parse errors coded one by one (the path for files with any bad value); ``name``: their source_file."""
    table, decimal = source.table, source.format.decimal
    rows, malformed_text, malformed_lines = source.rows, source.malformed_text, source.malformed_lines
    n = table.num_rows
    if source.wide is not None:
        wide_ts, ts_err = _wide_timestamps(source)
        timestamps = wide_ts.to_pandas()
    else:
        timestamps, ts_err = _parse_timestamps(table.column("timestamp"))
    kwh, kwh_err = _parse_numbers(table.column("kwh"), KWH_MISSING, KWH_NOT_NUMERIC, decimal)
    meter = table.column("meter_id")
    if not pa.types.is_string(meter.type) and not pa.types.is_large_string(meter.type):
        meter = pc.cast(meter, pa.string())
    meter_ids = meter.to_pandas().astype("str").str.strip()
    meter_err = np.where((meter_ids == "").to_numpy() | meter_ids.isna().to_numpy(), METER_ID_MISSING, None)

    out = pd.DataFrame({"meter_id": meter_ids, "timestamp": timestamps, "kwh": kwh})
    scada_err = np.full(n, None, dtype=object)
    for col in SCADA_COLUMNS:
        if col in table.column_names:
            out[col], err = _parse_numbers(table.column(col), None, SCADA_NOT_NUMERIC, decimal)
            scada_err = np.where(pd.isna(scada_err), err, scada_err)

    # first error wins, in the documented order
    parse_error = meter_err.astype(object)
    for err in (ts_err, kwh_err, scada_err):
        parse_error = np.where(pd.isna(parse_error), err, parse_error)
    bad = ~pd.isna(parse_error)

    raw_values = np.full(n, None, dtype=object)
    if bad.any():
        picked = pa.array(np.flatnonzero(bad))
        texts = {k: pc.cast(pc.take(v, picked), pa.string()).to_pylist() for k, v in _raw_columns(source).items()}
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


def covered_days(path: str | os.PathLike, require_all: bool = False) -> list[str]:
    """The UTC days (YYYY-MM-DD, sorted) that a landing file's rows fall on, of any layout.

    Reads only the time columns: ``timestamp`` of a long file, ``date`` and ``utc_offset`` of a
    wide one (whose row covers the days of its first and last interval start), so the other
    columns (even ``kwh``) need not be there. Rows without a usable instant are routed to one of
    these days by the reader, so they add none. Raises ``LandingFileError`` when no day can be read,
    and with ``require_all`` when the header lacks any required column of its layout.
    """
    path = os.fspath(path)
    layout, table, intervals = read_time_columns(path, require_all)
    if layout == "long":
        timestamps, _ = _parse_timestamps(table.column("timestamp"))
        micros = timestamps.dropna().dt.tz_localize(None).to_numpy().astype("datetime64[us]").astype(np.int64)
    else:
        day_us, date_empty, date_bad = day_starts_us(table.column("date"))
        offsets = table.column(OFFSET_COLUMN) if OFFSET_COLUMN in table.column_names else None
        offset_us, _, offset_bad = utc_offsets_us(offsets, table.num_rows)
        first = (day_us - offset_us)[~(date_empty | date_bad | offset_bad)]
        micros = np.concatenate([first, first + _DAY_US - intervals.minutes * 60_000_000])
    if not len(micros):
        raise LandingFileError(path, "no row has a readable timestamp")
    return utc_days(micros)
