"""The zone's imbalance figures from meter readings, computed by the study's metric.

:mod:`lascopf_assets.lib.phase_balance.metric` defines the imbalance of one
hour; here the readings are summed per hour and phase (and per feeder, for the
per-feeder figure) and the metric's hourly figures are averaged over the hours
with load.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lascopf_assets.lib.zone.structure import PHASES


def _as_series(mapping: pd.Series | dict[str, str]) -> pd.Series:
    return pd.Series(mapping, dtype="object") if isinstance(mapping, dict) else mapping


def _grouped_phase_loads(
    readings: pd.DataFrame, meter_phase: pd.Series | dict[str, str], meter_group: pd.Series | dict[str, str] | None
) -> tuple[list[str], np.ndarray]:
    """Group names and kWh per group, hour and phase, shape ``(groups, hours, 3)``.

    The hours are those with a reading of a mapped meter (of any group); readings
    of meters absent from ``meter_phase`` (or from ``meter_group``, when given)
    are ignored. Without ``meter_group`` there is one group, named ``""``.
    """
    meter_code, meter_uniques = pd.factorize(readings["meter_id"])  # map the few ids, not every row
    meter_index = pd.Index(meter_uniques)
    unique_phase = pd.Categorical(meter_index.map(_as_series(meter_phase)), categories=list(PHASES)).codes
    if meter_group is None:
        names = [""]
        unique_group = np.zeros(len(meter_index), dtype=np.int64)
    else:
        groups = _as_series(meter_group)
        names = [str(g) for g in pd.unique(groups.to_numpy())]
        unique_group = pd.Categorical(meter_index.map(groups), categories=names).codes.astype(np.int64)
    keep_unique = (unique_phase >= 0) & (unique_group >= 0)
    keep = keep_unique[meter_code]
    stamps = readings["timestamp"]
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    hour_code, _ = pd.factorize(stamps.to_numpy(dtype="datetime64[us]").view(np.int64)[keep])
    hours = int(hour_code.max()) + 1 if len(hour_code) else 0
    cell = (unique_group * 3 + unique_phase)[meter_code[keep]]  # group-phase cell per kept row
    loads = np.bincount(
        hour_code * (3 * len(names)) + cell,
        weights=readings["kwh"].to_numpy(dtype=np.float64)[keep],
        minlength=3 * len(names) * hours,
    ).reshape(hours, len(names), 3)
    return names, loads.transpose(1, 0, 2)


def phase_loads(readings: pd.DataFrame, meter_phase: pd.Series | dict[str, str]) -> np.ndarray:
    """kWh per hour and phase, shape ``(hours, 3)``, over the hours with a reading of a mapped meter.

    Readings of meters absent from ``meter_phase`` are ignored.
    """
    return _grouped_phase_loads(readings, meter_phase, None)[1][0]


def _mean_hourly(loads: np.ndarray, what: str) -> float:
    """The metric's hourly imbalance of ``loads`` (hours, 3) averaged over the hours with load."""
    # Imported here: the phase_balance package imports its solvers (cvxpy, SCIP),
    # seconds the demo data generator should not pay.
    from lascopf_assets.lib.phase_balance.metric import hourly_imbalance

    per_hour = hourly_imbalance(loads.T, np.arange(len(PHASES)))
    with_load = per_hour[~np.isnan(per_hour)]
    if not len(with_load):
        raise ValueError(f"no load on any phase{what}: imbalance undefined")
    return float(with_load.mean())


def mean_hourly_imbalance(readings: pd.DataFrame, meter_phase: pd.Series | dict[str, str]) -> float:
    """Mean over hours of ``max_p |L_p(t) - mean_p L(t)| / mean_p L(t)``.

    ``L_p(t)`` sums the kWh of the meters on phase ``p`` (the junction aggregates
    summed per phase): :func:`~lascopf_assets.lib.phase_balance.metric.hourly_imbalance`
    with each phase as one load on its own phase. Readings of meters absent from
    ``meter_phase`` are ignored, as are hours with no load; like the metric, an
    hour with a negative total raises ``ValueError``.
    """
    return _mean_hourly(phase_loads(readings, meter_phase), "")


def imbalance_by_feeder(
    readings: pd.DataFrame, meter_phase: pd.Series | dict[str, str], meter_feeder: pd.Series | dict[str, str]
) -> dict[str, float]:
    """:func:`mean_hourly_imbalance` of each feeder's meters alone, ``feeder -> figure``.

    Feeders are listed in the order they first appear in ``meter_feeder``; readings
    of meters missing from either mapping are ignored. A feeder with no load in
    any hour raises ``ValueError``.
    """
    names, loads = _grouped_phase_loads(readings, meter_phase, meter_feeder)
    return {name: _mean_hourly(loads[g], f" of feeder {name}") for g, name in enumerate(names)}
