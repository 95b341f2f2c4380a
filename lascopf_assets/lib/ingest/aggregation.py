"""Per-junction hourly aggregates of validated meter readings (a day at a time for a range: the keys include the hour)."""

from __future__ import annotations

import numpy as np
import pandas as pd

AGGREGATE_COLUMNS = ["timestamp", "feeder", "junction", "phase", "kwh", "meters"]
_KEYS = ["timestamp", "feeder", "junction", "phase"]
INPUT_COLUMNS = [*_KEYS, "kwh"]  # what aggregate_by_junction reads of validated_loads


def aggregate_by_junction(valid: pd.DataFrame) -> pd.DataFrame:
    """kWh per feeder, junction, phase and hour, with the number of meters that reported.

    Input: validated loads (``timestamp, meter_id, feeder, junction, phase, kwh``). A junction under
    no feeder head keeps its rows with a null ``feeder`` (every valid kWh is accounted for).
    Output sorted by ``timestamp, feeder, junction``.
    """
    if "feeder" not in valid.columns:
        raise ValueError(
            "validated_loads has no feeder column: it was written before feeders existed; rematerialize validated_loads"
        )
    if valid.empty:
        return pd.DataFrame(
            {
                "timestamp": pd.Series([], dtype=valid["timestamp"].dtype),
                **{key: pd.Series([], dtype="str") for key in _KEYS[1:]},
                "kwh": pd.Series([], dtype=np.float64),
                "meters": pd.Series([], dtype=np.int64),
            }
        )
    grouped = valid.groupby(_KEYS, sort=True, observed=True, dropna=False)["kwh"]
    out = grouped.agg(["sum", "size"]).reset_index()
    out = out.rename(columns={"sum": "kwh", "size": "meters"})
    out["meters"] = out["meters"].astype(np.int64)
    return out[AGGREGATE_COLUMNS]


class AggregateTotals:
    """What the aggregates of a range came to, added up day by day: rows, distinct junctions, kWh."""

    def __init__(self) -> None:
        self.rows = 0
        self.kwh_total = 0.0
        self._junctions: set[str] = set()

    def add(self, aggregates: pd.DataFrame) -> pd.DataFrame:
        self.rows += len(aggregates)
        self.kwh_total += float(aggregates["kwh"].sum())
        self._junctions.update(aggregates["junction"].dropna().unique().tolist())
        return aggregates

    @property
    def junctions(self) -> int:
        return len(self._junctions)
