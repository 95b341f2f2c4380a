"""Column types of the table store: pandas <-> PostgreSQL <-> Arrow (no dagster, no connection here).

* :func:`pg_type_for` picks the PostgreSQL type a DataFrame column creates
  (``timestamptz``, ``bigint``, ``double precision``, ``boolean``, ``text``, ``jsonb``);
* :func:`compatible` is the schema-change rule's type test (data type vs the table's);
* :func:`to_arrow` turns the frame into the Arrow table COPY sends, and
  :func:`arrow_read_type` / :func:`to_pandas_column` give loads the project's
  dtypes back (timestamps ``datetime64[us, UTC]``, pandas strings, ``float64``,
  ``int64`` or ``Int64`` with NULLs, ``bool``).

The store's errors and :class:`TableSpec` (declared DDL) live here too, so
every module of the store shares them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

# canonical PostgreSQL type names, as format_type() prints them
TIMESTAMPTZ = "timestamp with time zone"
TEXT = "text"
FLOAT = "double precision"
BIGINT = "bigint"
BOOLEAN = "boolean"
JSONB = "jsonb"

INT_TYPES = {"bigint", "integer", "smallint"}
FLOAT_TYPES = {"double precision", "real", "numeric"}
TEXT_TYPES = {"text", "character varying", "character"}


class SchemaChangeError(ValueError):
    """A write would change a column's type: refused."""


class TableStoreError(RuntimeError):
    """A table or window cannot be used as asked (one-line message)."""


@dataclass(frozen=True)
class TableSpec:
    """Declared DDL for a table: column -> PostgreSQL type, optional time column."""

    name: str
    columns: Mapping[str, str]
    time_column: str | None = None
    primary_key: tuple[str, ...] = field(default_factory=tuple)


def base_type(pg_type: str) -> str:
    """The type without its modifier: ``character varying(20)`` -> ``character varying``."""
    return re.sub(r"\(.*\)", "", pg_type).strip()


def pg_type_for(series: pd.Series, table: str, column: str) -> str | None:
    """PostgreSQL type for a pandas column; None when the column is all-null object."""
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return TIMESTAMPTZ
    if pd.api.types.is_datetime64_dtype(dtype):
        raise TableStoreError(
            f"{table}.{column}: timestamps must be timezone-aware UTC (datetime64[us, UTC]), got {dtype}"
        )
    if pd.api.types.is_bool_dtype(dtype):
        return BOOLEAN
    if pd.api.types.is_integer_dtype(dtype):
        return BIGINT
    if pd.api.types.is_float_dtype(dtype):
        return FLOAT
    if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        if pd.api.types.is_object_dtype(dtype):
            sample = series.dropna()
            if sample.empty:
                return None
            first = sample.iloc[0]
            if isinstance(first, (dict, list)):
                return JSONB
            if not isinstance(first, str):
                raise TableStoreError(
                    f"{table}.{column}: unsupported object values of type {type(first).__name__}"
                )
        return TEXT
    raise TableStoreError(f"{table}.{column}: unsupported dtype {dtype}")


def frame_spec(table: str, df: pd.DataFrame, time_column: str | None) -> TableSpec:
    """The DDL a frame asks for (a column's type is None when it is all-null object data)."""
    cols: dict[str, str | None] = {c: pg_type_for(df[c], table, c) for c in df.columns}
    return TableSpec(table, cols, time_column)  # type: ignore[arg-type]


def compatible(data_type: str | None, table_type: str) -> bool:
    """Whether data of ``data_type`` may go into a column of ``table_type``."""
    if data_type is None:  # all NULL: fits any column
        return True
    table_type = base_type(table_type)
    if data_type == table_type:
        return True
    if data_type == BIGINT:
        return table_type in INT_TYPES | FLOAT_TYPES
    if data_type == FLOAT:
        return table_type in FLOAT_TYPES
    if data_type == TEXT:
        return table_type in TEXT_TYPES | {JSONB}
    return False


def to_arrow(df: pd.DataFrame, columns: Sequence[str], types: Mapping[str, str]) -> pa.Table:
    """The frame's ``columns`` as Arrow arrays fit for the table's column ``types``."""
    arrays = []
    for col in columns:
        s = df[col]
        t = base_type(types[col])
        if t == JSONB:
            texts = [None if v is None or (isinstance(v, float) and np.isnan(v)) else json.dumps(v) for v in s]
            arrays.append(pa.array(texts, type=pa.string()))
        elif t == TIMESTAMPTZ:
            arrays.append(pa.array(s.dt.tz_convert("UTC").dt.as_unit("us")))
        elif isinstance(s.dtype, pd.CategoricalDtype):
            arrays.append(pa.array(s.astype(object).to_numpy(), type=pa.string()))
        elif s.dtype == object and s.isna().all():
            arrays.append(pa.nulls(len(s), type=pa.string()))
        else:
            arrays.append(pa.array(s, from_pandas=True))
    return pa.Table.from_arrays(arrays, names=list(columns))


def arrow_read_type(pg_type: str) -> pa.DataType:
    """Arrow type a loaded column of ``pg_type`` is parsed as."""
    t = base_type(pg_type)
    if t == TIMESTAMPTZ:
        return pa.timestamp("us", tz="UTC")
    if t in INT_TYPES:
        return pa.int64()
    if t in FLOAT_TYPES:
        return pa.float64()
    if t == BOOLEAN:
        return pa.bool_()
    return pa.string()  # text, jsonb, anything else as its text form


def to_pandas_column(arr: pa.ChunkedArray, pg_type: str) -> pd.Series:
    """A loaded column with the project's dtype for ``pg_type``."""
    t = base_type(pg_type)
    if t == JSONB:
        return pd.Series([None if v is None else json.loads(v) for v in arr.to_pylist()], dtype=object)
    if t in INT_TYPES:
        return pd.Series(arr.to_pandas(), dtype="Int64" if arr.null_count else "int64")
    if t == BOOLEAN:
        return pd.Series(arr.to_pandas(), dtype="boolean" if arr.null_count else "bool")
    if t == TIMESTAMPTZ:
        return pd.Series(arr.to_pandas(), dtype="datetime64[us, UTC]")
    if t in FLOAT_TYPES:
        return pd.Series(arr.to_pandas(), dtype="float64")
    return pd.Series(arr.to_pandas(), dtype="str")
