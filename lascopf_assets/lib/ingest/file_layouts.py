"""What a landing file holds and where: compression, delimiter, encoding, long or wide layout.

:mod:`lascopf_assets.lib.ingest.landing` is the entry point; this module finds the file's
format from its first bytes and header, decodes it, and turns a wide file (one row per meter
and day, one column per interval) into the long rows ``meter_id, kwh`` the landing reader
judges. The accepted layouts are documented in docs/CONVENTIONS.md ("Landing file layouts").

* **Compression**: a name ending ``.csv.gz`` is gzip-compressed CSV, decompressed in memory.
* **Delimiter**: ``,``, ``;`` or tab, chosen from the header line as the one whose fields
  name the most required columns (a tie keeps that order).
* **Encoding**: UTF-8 with or without BOM; bytes that are not valid UTF-8 make the file
  Windows-1252 (bytes cp1252 leaves undefined read as Latin-1). A valid UTF-8 file is never
  decoded in Python: pyarrow reads it and checks it; only when that check fails is the file
  decoded and re-encoded.
* **Decimal comma**: only in ``;`` files; the numbers' text is normalised by the reader.

No Dagster here; no Python loops over rows.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import re
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

LONG_COLUMNS = ("meter_id", "timestamp", "kwh")
WIDE_COLUMNS = ("meter_id", "date")  # plus the optional OFFSET_COLUMN and the interval columns
OFFSET_COLUMN = "utc_offset"
DELIMITERS = (",", ";", "\t")
INTERVALS = {24: 60, 48: 30, 96: 15}  # interval columns -> minutes
FORMAT_KEY = b"lascopf.format"
GZIP_SUFFIX = ".csv.gz"

_HEAD_BYTES = 1 << 16
_BOM = codecs.BOM_UTF8
_TIME_LABEL = re.compile(r"^(\d{1,2}):(\d{2})(?::00)?$")
_HHMM_LABEL = re.compile(r"^(\d{2})(\d{2})$")
_ORDINAL_LABEL = re.compile(r"^(h|i|kwh_)?(\d{1,3})$", re.IGNORECASE)
_OFFSET = r"^(?:(?P<z>[Zz])|(?P<sign>[+-])(?P<hh>\d{2})(?::?(?P<mm>\d{2}))?)$"


class LandingFileError(ValueError):
    """A landing file that cannot be ingested at all."""

    def __init__(self, path: str | os.PathLike, reason: str, line: int | None = None):
        self.path = str(path)
        self.reason = reason
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class FileFormat:
    """The detected format of one landing file (recorded in the parsed table's schema metadata)."""

    layout: str  # "long" | "wide"
    compression: str | None  # "gzip" | None
    delimiter: str | None  # "," | ";" | "\t" | None (Parquet)
    decimal: str  # "." | ","
    encoding: str | None  # "utf-8" | "utf-8-sig" | "cp1252" | None (Parquet)
    interval_minutes: int | None  # 15 | 30 | 60 (wide) | None (long)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()


@dataclass(frozen=True)
class Intervals:
    """The interval columns of a wide file: names in time order, and their length."""

    names: tuple[str, ...]
    minutes: int


@dataclass
class Source:
    """A landing file's rows as read, before any value is judged.

    Long: ``table`` holds the file's columns. Wide: ``table`` holds the long rows
    (``meter_id``, ``kwh``, ``column`` = the interval column's name) and ``wide`` the
    wide rows' ``date`` and ``utc_offset`` columns; ``wide_row`` maps each long row to its
    wide row and ``step_us`` is its interval's start after the day's start.
    """

    table: pa.Table
    rows: np.ndarray  # source_row of each row of ``table``
    malformed_text: list[str]
    malformed_lines: np.ndarray
    format: FileFormat
    wide: pa.Table | None = None
    wide_row: np.ndarray | None = None
    step_us: np.ndarray | None = None


# --- decoding -------------------------------------------------------------------------------


def _latin1_for_undefined(error: UnicodeDecodeError) -> tuple[str, int]:
    """cp1252 leaves 0x81, 0x8D, 0x8F, 0x90, 0x9D undefined: read them as Latin-1."""
    return error.object[error.start:error.end].decode("latin-1"), error.end


codecs.register_error("lascopf_latin1", _latin1_for_undefined)


def decode_cp1252(data: bytes) -> str:
    return data.decode("cp1252", errors="lascopf_latin1")


def is_gzip_name(path: str) -> bool:
    return path.lower().endswith(GZIP_SUFFIX)


def _gunzip(path: str) -> bytes:
    try:
        packed = Path(path).read_bytes()
        if not packed:
            raise EOFError("empty file")
        return gzip.decompress(packed)
    except (OSError, EOFError, zlib.error) as exc:
        raise LandingFileError(path, f"not a readable gzip file ({exc})") from exc


def _head(path: str) -> tuple[bytes, bytes | None]:
    """The first bytes of the (decompressed) file, and the whole content when it had to be read."""
    if is_gzip_name(path):
        data = _gunzip(path)
        return data[:_HEAD_BYTES], data
    with open(path, "rb") as handle:
        head = handle.read(_HEAD_BYTES)
        if b"\n" not in head and len(head) == _HEAD_BYTES:
            head += handle.read()  # a header longer than the first read
    return head, None


@dataclass(frozen=True)
class Header:
    names: list[str]
    delimiter: str
    encoding: str  # of the header: "utf-8", "utf-8-sig" or "cp1252"


def _split(line: str, delimiter: str) -> list[str]:
    return [field[1:-1] if len(field) > 1 and field[0] == field[-1] == '"' else field for field in line.split(delimiter)]


def sniff_header(path: str, head: bytes) -> Header:
    """The header's column names, the delimiter that yields the required columns, its encoding."""
    bom = head.startswith(_BOM)
    first = head[len(_BOM):] if bom else head
    first = first.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text, encoding = first.decode("utf-8"), ("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError:
        text, encoding = decode_cp1252(first), "cp1252"
    wanted = set(LONG_COLUMNS) | set(WIDE_COLUMNS)

    def score(delimiter: str) -> tuple[int, int]:
        names = _split(text, delimiter)
        return len(wanted.intersection(names)), len(names)

    delimiter = max(DELIMITERS, key=score)  # max keeps the first of equals
    return Header(_split(text, delimiter), delimiter, encoding)


def layout_of(names: list[str]) -> str:
    """``wide`` when the columns have a ``date`` but no ``timestamp``, else ``long``."""
    return "wide" if "timestamp" not in names and "date" in names else "long"


def missing_columns(names: list[str], layout: str, required_long=LONG_COLUMNS) -> list[str]:
    required = WIDE_COLUMNS if layout == "wide" else required_long
    return [c for c in required if c not in names]


# --- wide interval columns ------------------------------------------------------------------


def _label(name: str) -> tuple[str, int] | None:
    """(style, minutes after midnight or ordinal) of an interval column name, None if it is none."""
    text = name.strip()
    if m := _TIME_LABEL.match(text):
        hours, minutes = int(m.group(1)), int(m.group(2))
        return ("HH:MM", hours * 60 + minutes) if minutes < 60 else None
    if m := _HHMM_LABEL.match(text):
        hours, minutes = int(m.group(1)), int(m.group(2))
        return ("HHMM", hours * 60 + minutes) if minutes < 60 else None
    if m := _ORDINAL_LABEL.match(text):
        return ((m.group(1) or "").lower() + "N", int(m.group(2)))
    return None


def interval_columns(path: str, names: list[str]) -> Intervals:
    """The interval columns of a wide file's header (every column but meter_id, date, utc_offset)."""
    candidates = [n for n in names if n not in (*WIDE_COLUMNS, OFFSET_COLUMN)]
    count = len(candidates)
    labels = [_label(n) for n in candidates]
    unknown = [n for n, label in zip(candidates, labels) if label is None]
    if unknown:
        raise LandingFileError(
            path, f"wide layout: {count} interval column(s), {len(unknown)} not an interval label "
            f"(HH:MM, HHMM or 1..N): {', '.join(repr(n) for n in unknown[:5])}", line=1)
    if count not in INTERVALS:
        raise LandingFileError(path, f"wide layout: {count} interval column(s); expected 24, 48 or 96", line=1)
    styles = sorted({style for style, _ in labels})
    if len(styles) > 1:
        raise LandingFileError(
            path, f"wide layout: {count} interval columns mix label styles ({', '.join(styles)})", line=1)
    minutes = INTERVALS[count]
    values = [value for _, value in labels]
    if styles[0] in ("HH:MM", "HHMM"):
        expected, position = list(range(0, 1440, minutes)), [v // minutes for v in values]
        what = f"interval starts 00:00..{(1440 - minutes) // 60:02d}:{(1440 - minutes) % 60:02d}"
    else:
        expected, position = list(range(1, count + 1)), [v - 1 for v in values]
        what = f"ordinals 1..{count}"
    if sorted(values) != expected:
        odd = [n for n, v in zip(candidates, values) if v not in expected] or candidates
        raise LandingFileError(
            path, f"wide layout: the {count} interval column names are not the {what} "
            f"(e.g. {odd[0]!r})", line=1)
    order = np.argsort(position)
    return Intervals(tuple(candidates[i] for i in order), minutes)


def _numeric_or_text(columns: list[pa.ChunkedArray]) -> list[pa.ChunkedArray]:
    if all(pa.types.is_floating(c.type) or pa.types.is_integer(c.type) for c in columns):
        return [pc.cast(c, pa.float64()) for c in columns]
    return [pc.cast(c, pa.string()) for c in columns]


def wide_to_long(table: pa.Table, rows: np.ndarray, intervals: Intervals) -> tuple[pa.Table, np.ndarray, np.ndarray, np.ndarray]:
    """Long rows (meter_id, kwh, column) of a wide table, by wide row then interval.

    Returns the long table, each long row's source_row, its wide row and its interval's start
    after the day's start in microseconds.
    """
    n, k = table.num_rows, len(intervals.names)
    cells = _numeric_or_text([table.column(name) for name in intervals.names])
    stacked = pa.chunked_array([chunk for column in cells for chunk in column.chunks], type=cells[0].type)
    # stacked is column after column; long row i * k + j is column j, row i
    take = (np.arange(k, dtype=np.int64)[None, :] * n + np.arange(n, dtype=np.int64)[:, None]).ravel()
    wide_row = np.repeat(np.arange(n, dtype=np.int64), k)
    position = np.tile(np.arange(k, dtype=np.int32), n)
    meter = table.column("meter_id")
    long = pa.table({
        "meter_id": pc.take(meter, pa.array(wide_row)),
        "kwh": pc.take(stacked, pa.array(take)) if n else stacked,
        "column": pa.DictionaryArray.from_arrays(pa.array(position), pa.array(intervals.names, pa.string())),
    })
    step_us = position.astype(np.int64) * (intervals.minutes * 60_000_000)
    return long, np.repeat(rows, k), wide_row, step_us


def day_starts_us(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each wide row's date as microseconds of its midnight (as if UTC), and its empty / unparseable masks."""
    if pa.types.is_date(column.type):
        micros = pc.cast(pc.cast(column, pa.timestamp("us")), pa.int64())
        empty = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        return np.nan_to_num(micros.to_numpy(zero_copy_only=False)).astype(np.int64), empty, np.zeros(len(column), bool)
    text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    empty = np.asarray(pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False), dtype=bool)
    well_formed = pc.fill_null(pc.match_substring_regex(text, r"^\d{4}-\d{2}-\d{2}$"), False)
    parsed = pc.strptime(pc.if_else(well_formed, text, pa.scalar(None, pa.string())), "%Y-%m-%d", "us", error_is_null=True)
    bad = np.asarray(parsed.is_null().to_numpy(zero_copy_only=False), dtype=bool) & ~empty
    micros = pc.fill_null(pc.cast(parsed, pa.int64()), 0).to_numpy(zero_copy_only=False)
    return np.asarray(micros, dtype=np.int64), empty, bad


def utc_offsets_us(column: pa.ChunkedArray | None, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each wide row's UTC offset in microseconds, and its empty / unparseable masks (empty when no column)."""
    if column is None:
        return np.zeros(n, np.int64), np.ones(n, bool), np.zeros(n, bool)
    text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    empty = np.asarray(pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False), dtype=bool)
    parts = pc.extract_regex(pc.fill_null(text, ""), _OFFSET)
    valid = np.asarray(parts.is_valid().to_numpy(zero_copy_only=False), dtype=bool)

    def field(name: str) -> np.ndarray:
        values = pc.struct_field(parts, name)
        values = pc.if_else(pc.equal(values, ""), pa.scalar("0"), values)
        return np.asarray(pc.cast(pc.fill_null(values, "0"), pa.int64()).to_numpy(zero_copy_only=False))

    sign = np.where(np.asarray(pc.fill_null(pc.equal(pc.struct_field(parts, "sign"), "-"), False)), -1, 1)
    hours, minutes = field("hh"), field("mm")
    valid &= (hours <= 14) & (minutes < 60)
    offset = sign * (hours * 60 + minutes) * 60_000_000
    return np.where(valid, offset, 0).astype(np.int64), empty, ~valid & ~empty


# --- reading --------------------------------------------------------------------------------


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _unicode_error(exc: Exception) -> bool:
    return isinstance(exc, UnicodeDecodeError) or "invalid UTF8" in str(exc)


def _read_csv_bytes(path: str, source, delimiter: str, column_types: dict, include: list[str] | None,
                    invalid_row_handler) -> pa.Table:
    return pcsv.read_csv(
        source,
        parse_options=pcsv.ParseOptions(delimiter=delimiter, invalid_row_handler=invalid_row_handler,
                                        ignore_empty_lines=include is not None),
        convert_options=pcsv.ConvertOptions(column_types=column_types, strings_can_be_null=False,
                                            include_columns=include),
    )


def sniff_csv(path: str) -> tuple[Header, bytes | None]:
    """The header of a CSV or gzip CSV file, and its content when it had to be read whole (gzip)."""
    head, data = _head(path)
    return sniff_header(path, head), data


def read_csv(path: str, header: Header, data: bytes | None, string_columns: tuple[str, ...],
             include: list[str] | None = None, keep_malformed: bool = True):
    """``(table, encoding, data, malformed_text)`` of a CSV or gzip CSV landing file.

    ``header`` and ``data`` come from :func:`sniff_csv`; the ``data`` returned is the UTF-8
    content when it had to be held in memory (gzip, cp1252), else None.
    ``include``: read only those columns (malformed rows are then skipped, not kept).
    """
    malformed: list[str] = []

    def keep_text(row: pcsv.InvalidRow) -> str:
        if keep_malformed:
            malformed.append(row.text)
        return "skip"

    types = {c: pa.string() for c in string_columns if c in header.names}
    encoding = header.encoding
    try:
        if encoding != "cp1252":
            try:
                source = pa.BufferReader(data) if data is not None else path
                table = _read_csv_bytes(path, source, header.delimiter, types, include, keep_text)
                # a column pyarrow could only type as binary holds bytes that are not UTF-8 (say a
                # cp1252 comment column the reader does not use): the file is not UTF-8
                if not any(pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) for f in table.schema):
                    return table, encoding, data, malformed
                malformed.clear()
            except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                # pyarrow names invalid UTF-8 in a string column, but fails a malformed row whose
                # text is not UTF-8 as a parse error: only the bytes tell (checked on this path only)
                data = data if data is not None else Path(path).read_bytes()
                if not _unicode_error(exc) and _is_utf8(data):
                    raise
                malformed.clear()
        raw = data if data is not None else Path(path).read_bytes()
        if raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        data = decode_cp1252(raw).encode("utf-8")
        table = _read_csv_bytes(path, pa.BufferReader(data), header.delimiter, types, include, keep_text)
        return table, "cp1252", data, malformed
    except (pa.ArrowInvalid, UnicodeDecodeError, KeyError) as exc:
        raise LandingFileError(path, f"not a readable CSV file ({str(exc).splitlines()[0]})") from exc


def malformed_line_numbers(path: str, data: bytes | None, n_rows: int, malformed: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Line numbers of the rows pyarrow kept and of the malformed ones it skipped (header = line 1)."""
    if not malformed:
        return np.arange(2, n_rows + 2, dtype=np.int64), np.empty(0, dtype=np.int64)
    # pyarrow does not number the rows it skips: find them among the physical lines.
    raw = data if data is not None else Path(path).read_bytes()
    lines = raw.decode("utf-8", errors="replace").split("\n")
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
    if len(good_lines) != n_rows:  # e.g. quoted newlines: fall back to row order
        good_lines = np.arange(2, n_rows + 2, dtype=np.int64)
    return good_lines, line_numbers[is_malformed]


def read_parquet(path: str, columns: list[str] | None = None) -> pa.Table:
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise LandingFileError(path, f"not a readable Parquet file ({exc})") from exc


def parquet_names(path: str) -> list[str]:
    try:
        return pq.read_schema(path).names
    except (pa.ArrowInvalid, OSError) as exc:
        raise LandingFileError(path, f"not a readable Parquet file ({exc})") from exc


def _decimal_comma_in(table: pa.Table, columns: list[str]) -> bool:
    for name in columns:
        column = table.column(name)
        if pa.types.is_string(column.type) and pc.any(pc.match_substring(column, ",")).as_py():
            return True
    return False


def read_source(path: str, known_columns: tuple[str, ...], numeric_columns: tuple[str, ...]) -> Source:
    """The rows of a landing file as read (see :class:`Source`); raises LandingFileError when it has none."""
    lower = path.lower()
    if lower.endswith((".csv", GZIP_SUFFIX)):
        header, data = sniff_csv(path)
        layout = layout_of(header.names)
        missing = missing_columns(header.names, layout)
        if missing:
            raise LandingFileError(path, f"missing required column(s) {', '.join(missing)}", line=1)
        intervals = interval_columns(path, header.names) if layout == "wide" else None
        strings = (*WIDE_COLUMNS, OFFSET_COLUMN, *intervals.names) if intervals else known_columns
        table, encoding, data, malformed = read_csv(path, header, data, strings)
        rows, malformed_lines = malformed_line_numbers(path, data, table.num_rows, malformed)
        compression = "gzip" if is_gzip_name(path) else None
        delimiter = header.delimiter
    elif lower.endswith(".parquet"):
        table = read_parquet(path)
        layout = layout_of(table.column_names)
        missing = missing_columns(table.column_names, layout)
        if missing:
            raise LandingFileError(path, f"missing required column(s) {', '.join(missing)}", line=1)
        intervals = interval_columns(path, table.column_names) if layout == "wide" else None
        rows = np.arange(1, table.num_rows + 1, dtype=np.int64)
        malformed, malformed_lines = [], np.empty(0, dtype=np.int64)
        compression = delimiter = encoding = None
    else:
        raise LandingFileError(path, "not a .csv, .csv.gz or .parquet file")

    if intervals is None:
        numeric = [c for c in numeric_columns if c in table.column_names]
        comma = delimiter == ";" and _decimal_comma_in(table, numeric)
        fmt = FileFormat("long", compression, delimiter, "," if comma else ".", encoding, None)
        return Source(table, rows, malformed, malformed_lines, fmt)
    long, long_rows, wide_row, step_us = wide_to_long(table, rows, intervals)
    comma = delimiter == ";" and _decimal_comma_in(long, ["kwh"])
    fmt = FileFormat("wide", compression, delimiter, "," if comma else ".", encoding, intervals.minutes)
    wide = table.select([c for c in (*WIDE_COLUMNS, OFFSET_COLUMN) if c in table.column_names])
    return Source(long, long_rows, malformed, malformed_lines, fmt, wide, wide_row, step_us)


def read_time_columns(path: str, require_all: bool = False) -> tuple[str, pa.Table, Intervals | None]:
    """``(layout, time columns, intervals)``: only ``timestamp`` (long) or ``date`` [+ ``utc_offset``] (wide).

    ``require_all``: refuse, from the header, a file missing any required column of its layout (not only
    the time columns), as :func:`read_source` would."""
    lower = path.lower()
    if lower.endswith(".parquet"):
        names = parquet_names(path)
    elif lower.endswith((".csv", GZIP_SUFFIX)):
        header, data = sniff_csv(path)
        names = header.names
    else:
        raise LandingFileError(path, "not a .csv, .csv.gz or .parquet file")
    layout = layout_of(names)
    missing = missing_columns(names, layout) if require_all else []
    if missing:
        raise LandingFileError(path, f"missing required column(s) {', '.join(missing)}", line=1)
    wanted = ["date", OFFSET_COLUMN] if layout == "wide" else ["timestamp"]
    wanted = [c for c in wanted if c in names]
    if "timestamp" not in wanted and "date" not in wanted:
        raise LandingFileError(path, "missing required column(s) timestamp", line=1)
    intervals = interval_columns(path, names) if layout == "wide" else None
    if lower.endswith(".parquet"):
        table = read_parquet(path, wanted)
    else:
        table, *_ = read_csv(path, header, data, tuple(wanted), include=wanted, keep_malformed=False)
    return layout, table, intervals
