"""Re-optimization trigger, the core: has a feeder's latest day drifted from its last phase recommendation?

Both sides are the phase balancing's own metric (``lib/phase_balance/metric.py``), per hour so a day
compares with a window of any length:

- the recommendation: ``imbalance_after / (hours - skipped_hours)`` of the feeder's latest
  ``phase_assignment`` (the mean hourly imbalance its window reaches with the recommended moves);
- the day: the mean over the day's hours (zero-load hours skipped, as the metric does) of
  ``max_p |L_p(t) - mean(t)| / mean(t)`` from that day's ``junction_aggregates`` of the feeder, with
  the recommended moves applied (each moved junction on its ``to_phase``; a junction already moved
  in the topology stays where it is), so an unapplied recommendation is not mistaken for drift.

``drift = day - recommendation``; a feeder whose drift exceeds the threshold (an absolute number of
imbalance-ratio points, e.g. 0.05) is due for a new ``phase_assignment``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lascopf_assets.lib.phase_balance.metric import hourly_imbalance
from lascopf_assets.lib.phase_balance.problem import problem_from_long_table


@dataclass(frozen=True)
class Drift:
    feeder: str
    day: str
    day_imbalance: float  # mean hourly imbalance of the day, recommended moves applied
    recommended_imbalance: float  # mean hourly imbalance the recommendation reached over its window
    moves: int

    @property
    def drift(self) -> float:
        return self.day_imbalance - self.recommended_imbalance

    def describe(self) -> str:
        return (f"feeder {self.feeder} on {self.day}: mean hourly imbalance {self.day_imbalance:.4f} with the "
                f"{self.moves} recommended move(s) vs {self.recommended_imbalance:.4f} recommended "
                f"(drift {self.drift:+.4f})")


def recommended_moves(metadata: dict) -> dict[str, str] | None:
    """``junction -> to_phase`` of the recommended point (K = max_changes) of a phase_assignment's metadata, or
    None when its trade-off points do not include it."""
    k = metadata.get("max_changes")
    for point in metadata.get("tradeoff_points") or []:
        if point.get("k") == k:
            return {c["junction"]: c["to_phase"] for c in point.get("changes", [])}
    return None


def recommended_hourly_imbalance(metadata: dict) -> float | None:
    hours = int(metadata.get("hours") or 0) - int(metadata.get("skipped_hours") or 0)
    after = metadata.get("imbalance_after")
    if hours <= 0 or after is None or not math.isfinite(float(after)):
        return None
    return float(after) / hours


def day_hourly_imbalance(rows: pd.DataFrame, moves: dict[str, str]) -> float | None:
    """Mean hourly imbalance of one feeder's day of ``junction_aggregates`` (``junction, phase, timestamp, kwh``)
    with ``moves`` applied; None when the day has no hour with load."""
    if rows.empty:
        return None
    table = rows[["junction", "phase", "timestamp", "kwh"]].copy()
    table["junction"] = table["junction"].astype(str)
    table["phase"] = [moves.get(j, p) for j, p in zip(table["junction"], table["phase"].astype(str))]
    problem = problem_from_long_table(table, source="junction_aggregates of the day", csv_lines=False)
    hourly = hourly_imbalance(problem.loads, problem.initial_phase)
    kept = hourly[np.isfinite(hourly)]
    return float(kept.mean()) if kept.size else None


def feeder_drift(feeder: str, day: str, rows: pd.DataFrame, metadata: dict) -> Drift | None:
    """The feeder's drift on ``day`` against its latest recommendation's metadata; None when either side is
    unknown (no recommendation with an outcome, no load that day)."""
    recommended = recommended_hourly_imbalance(metadata)
    moves = recommended_moves(metadata)
    if recommended is None:
        return None
    today = day_hourly_imbalance(rows, moves or {})
    if today is None:
        return None
    return Drift(feeder, day, today, recommended, len(moves or {}))
