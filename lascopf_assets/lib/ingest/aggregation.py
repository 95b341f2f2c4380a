"""Per-junction hourly aggregates of validated meter readings."""

from __future__ import annotations

import numpy as np
import pandas as pd

AGGREGATE_COLUMNS = ["timestamp", "feeder", "junction", "phase", "kwh", "meters"]
_KEYS = ["timestamp", "feeder", "junction", "phase"]


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
