"""Per-junction hourly aggregates of validated meter readings."""

from __future__ import annotations

import numpy as np
import pandas as pd

AGGREGATE_COLUMNS = ["timestamp", "junction", "phase", "kwh", "meters"]


def aggregate_by_junction(valid: pd.DataFrame) -> pd.DataFrame:
    """kWh per junction, phase and hour, with the number of meters that reported.

    Input: validated loads (``timestamp, meter_id, junction, phase, kwh``).
    Output sorted by ``timestamp, junction``.
    """
    if valid.empty:
        return pd.DataFrame(
            {
                "timestamp": pd.Series([], dtype=valid["timestamp"].dtype),
                "junction": pd.Series([], dtype="str"),
                "phase": pd.Series([], dtype="str"),
                "kwh": pd.Series([], dtype=np.float64),
                "meters": pd.Series([], dtype=np.int64),
            }
        )
    grouped = valid.groupby(["timestamp", "junction", "phase"], sort=True, observed=True)["kwh"]
    out = grouped.agg(["sum", "size"]).reset_index()
    out = out.rename(columns={"sum": "kwh", "size": "meters"})
    out["meters"] = out["meters"].astype(np.int64)
    return out[AGGREGATE_COLUMNS]
