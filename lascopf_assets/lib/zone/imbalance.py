"""The zone's imbalance figure from meter readings, computed by the study's metric.

:mod:`lascopf_assets.lib.phase_balance.metric` defines the imbalance of one
hour; here the readings are summed per hour and phase and the metric's hourly
figures are averaged over the hours with load.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lascopf_assets.lib.zone.structure import PHASES


def phase_loads(readings: pd.DataFrame, meter_phase: pd.Series | dict[str, str]) -> np.ndarray:
    """kWh per hour and phase, shape ``(hours, 3)``, over the hours with a reading of a mapped meter.

    Readings of meters absent from ``meter_phase`` are ignored.
    """
    mapping = pd.Series(meter_phase, dtype="object") if isinstance(meter_phase, dict) else meter_phase
    meter_code, meter_uniques = pd.factorize(readings["meter_id"])  # map the few ids, not every row
    unique_phase = pd.Categorical(pd.Index(meter_uniques).map(mapping), categories=list(PHASES)).codes
    phase_code = unique_phase[meter_code]
    keep = phase_code >= 0
    stamps = readings["timestamp"]
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    hour_code, _ = pd.factorize(stamps.to_numpy(dtype="datetime64[us]").view(np.int64)[keep])
    hours = int(hour_code.max()) + 1 if len(hour_code) else 0
    return np.bincount(
        hour_code * 3 + phase_code[keep],
        weights=readings["kwh"].to_numpy(dtype=np.float64)[keep],
        minlength=3 * hours,
    ).reshape(hours, 3)


def mean_hourly_imbalance(readings: pd.DataFrame, meter_phase: pd.Series | dict[str, str]) -> float:
    """Mean over hours of ``max_p |L_p(t) - mean_p L(t)| / mean_p L(t)``.

    ``L_p(t)`` sums the kWh of the meters on phase ``p`` (the junction aggregates
    summed per phase): :func:`~lascopf_assets.lib.phase_balance.metric.hourly_imbalance`
    with each phase as one load on its own phase. Readings of meters absent from
    ``meter_phase`` are ignored, as are hours with no load; like the metric, an
    hour with a negative total raises ``ValueError``.
    """
    # Imported here: the phase_balance package imports its solvers (cvxpy, SCIP),
    # seconds the demo data generator should not pay.
    from lascopf_assets.lib.phase_balance.metric import hourly_imbalance

    per_hour = hourly_imbalance(phase_loads(readings, meter_phase).T, np.arange(len(PHASES)))
    with_load = per_hour[~np.isnan(per_hour)]
    if not len(with_load):
        raise ValueError("no load on any phase: imbalance undefined")
    return float(with_load.mean())
