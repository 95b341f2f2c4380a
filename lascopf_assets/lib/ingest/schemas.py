"""pandera schemas for meter and SCADA readings, and the rules they stand for.

Every rule has a stable code (stored with each quarantined row) and a reason a
person can read. Row-level rules quarantine the rows that break them; the
dataset-level voltage expectation is judged by an asset check instead.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

from lascopf_assets.lib.ingest import landing

UTC_US = pd.DatetimeTZDtype(unit="us", tz="UTC")

VOLTAGE_BAND_PU = (0.95, 1.05)
VOLTAGE_MIN_SHARE_IN_BAND = 0.98
FREQUENCY_BAND_HZ = (59.5, 60.5)

# rule code -> reason; the order is the order in which a row is judged
RULES: dict[str, str] = {
    landing.MALFORMED_ROW: "the line does not have the file's number of columns",
    landing.METER_ID_MISSING: "meter_id is empty",
    landing.TIMESTAMP_MISSING: "timestamp is empty",
    landing.TIMESTAMP_UNPARSEABLE: "timestamp is not an ISO 8601 date and time",
    landing.TIMESTAMP_NO_OFFSET: "timestamp has no UTC offset, so its instant is unknown",
    landing.KWH_MISSING: "kwh is empty",
    landing.KWH_NOT_NUMERIC: "kwh is not a number",
    landing.SCADA_NOT_NUMERIC: "a SCADA value is not a number",
    "meter_unknown": "meter_id is not a meter of the grid topology valid at that time",
    "kwh_not_finite": "kwh is NaN or infinite",
    "kwh_negative": "kwh is negative",
    "timestamp_off_interval": "timestamp is not on the meter's interval grid (a whole number of intervals after the hour)",
    "power_factor_out_of_range": "power factor outside [-1, 1]",
    "frequency_out_of_range": f"frequency outside {FREQUENCY_BAND_HZ[0]}-{FREQUENCY_BAND_HZ[1]} Hz",
    "active_power_missing": "active power is null",
    # judged after the row rules, on the readings that passed them (lib/ingest/intervals.py)
    "duplicate_reading": "another reading of the same meter and timestamp, with a different value, came first and was kept",
    "hour_incomplete": "the meter's hour does not have a valid reading for every interval",
}
RULE_ORDER = {code: i for i, code in enumerate(RULES)}


def _check(code: str, fn, **kwargs) -> pa.Check:
    return pa.Check(fn, name=code, error=RULES[code], **kwargs)


HOUR_US = 3_600_000_000
MINUTE_US = 60_000_000
# the column readings_schema judges timestamp_off_interval by: each reading's interval (minutes)
INTERVAL_COLUMN = "interval_minutes"


def _in_set(values: pd.Series, known: pyarrow.Array) -> pd.Series:
    """``values.isin(known)`` by an Arrow hash lookup (pandas' isin on Arrow strings loops in Python)."""
    found = pc.is_in(pyarrow.array(values.array), value_set=known)
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index)


def _on_interval_grid(df: pd.DataFrame) -> pd.Series:
    """Timestamp a whole number of the row's intervals after the hour (integer microseconds; NaT never is)."""
    micros = pd.DatetimeIndex(df["timestamp"]).asi8
    step = df[INTERVAL_COLUMN].to_numpy(dtype=np.int64) * MINUTE_US
    return pd.Series((micros % step == 0) & ~df["timestamp"].isna().to_numpy(), index=df.index)


def readings_schema(known_meters: Iterable[str], columns: Iterable[str] = ()) -> pa.DataFrameSchema:
    """Row-level rules for parsed readings; ``columns`` says which SCADA columns are present.

    The frame judged carries :data:`INTERVAL_COLUMN`, each reading's interval in minutes (detected
    or declared, see ``intervals.py``), for ``timestamp_off_interval``.
    """
    known = pyarrow.array(pd.unique(pd.Series(list(known_meters), dtype="str")), pyarrow.string())
    present = set(columns)
    spec: dict[str, pa.Column] = {
        "meter_id": pa.Column(str, _check("meter_unknown", lambda s: _in_set(s, known))),
        "timestamp": pa.Column(UTC_US),
        INTERVAL_COLUMN: pa.Column("int64"),
        "kwh": pa.Column(
            float,
            [
                _check("kwh_not_finite", lambda s: np.isfinite(s), ignore_na=False),
                _check("kwh_negative", lambda s: ~(s < 0)),
            ],
            nullable=True,  # NaN is reported once, as kwh_not_finite
        ),
    }
    if "power_factor" in present:
        spec["power_factor"] = pa.Column(
            float, _check("power_factor_out_of_range", lambda s: s.isna() | s.between(-1.0, 1.0)), nullable=True
        )
    if "frequency_hz" in present:
        lo, hi = FREQUENCY_BAND_HZ
        spec["frequency_hz"] = pa.Column(
            float, _check("frequency_out_of_range", lambda s: s.isna() | s.between(lo, hi)), nullable=True
        )
    if "active_power_kw" in present:
        spec["active_power_kw"] = pa.Column(
            float, _check("active_power_missing", lambda s: s.notna(), ignore_na=False), nullable=True
        )
    return pa.DataFrameSchema(spec, checks=[_check("timestamp_off_interval", _on_interval_grid)], strict=False, coerce=False)


# validated_loads: one row per meter and hour (the hour's interval readings summed, see intervals.py)
VALIDATED_LOADS_SCHEMA = pa.DataFrameSchema(
    {
        "timestamp": pa.Column(UTC_US),
        "meter_id": pa.Column(str),
        "feeder": pa.Column(str, nullable=True),  # None: the meter is under no feeder head
        "junction": pa.Column(str),
        "phase": pa.Column(str),  # A, B or C: checked on the meter map (validation._meter_map)
        "kwh": pa.Column(float),  # finite and >= 0: the row rules
        "source_file": pa.Column(str),
        "source_row": pa.Column("int64"),
        "intervals": pa.Column("int64"),  # readings summed into the hour (estimated ones not counted)
        "intervals_estimated": pa.Column("int64"),  # intervals gap-filled (0 unless gap_fill="linear")
    },
    strict=False,
)
