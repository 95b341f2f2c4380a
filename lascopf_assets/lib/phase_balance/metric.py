"""The study's imbalance metric, vectorized, plus the normalized form the solvers use.

For an assignment ``x`` (one phase per junction)::

    agg[t, p]      = sum of loads[j, t] over junctions j on phase p
    mean[t]        = (agg[t, A] + agg[t, B] + agg[t, C]) / 3
    imbalance(x)   = sum_t max_p |agg[t, p] - mean[t]| / mean[t]

Hours with ``mean[t] == 0`` are skipped (and reported by :func:`zero_mean_hours`).
``mean[t]`` does not depend on ``x`` (the total load is fixed), so dividing every
load by it once turns the objective into ``sum_t max_p |d[t, p]|`` with
``d[t, p] = sum_{j on p} l[j, t] - 1`` affine in ``x``: see :class:`NormalizedLoads`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lascopf_assets.lib.phase_balance.problem import PhaseBalanceProblem


def phase_aggregates(loads: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """``agg[t, p]``: load per interval and phase, shape ``(T, 3)``."""
    loads = np.asarray(loads, dtype=np.float64)
    onehot = np.zeros((loads.shape[0], 3))
    onehot[np.arange(loads.shape[0]), np.asarray(assignment, dtype=np.int64)] = 1.0
    return loads.T @ onehot


def hourly_imbalance(loads: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """``max_p |agg[t, p] - mean[t]| / mean[t]`` per interval; NaN where ``mean[t] == 0``."""
    agg = phase_aggregates(loads, assignment)
    mean = agg.sum(axis=1) / 3.0
    if np.any(mean < 0):
        t = int(np.argmax(mean < 0))
        raise ValueError(f"interval {t}: total load {3 * mean[t]:.6g} is negative; the imbalance ratio is undefined")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.abs(agg - mean[:, None]).max(axis=1) / mean
    out[mean == 0] = np.nan
    return out


def imbalance(loads: np.ndarray, assignment: np.ndarray) -> float:
    """The study's objective: the sum over intervals of :func:`hourly_imbalance` (zero-mean hours skipped)."""
    return float(np.nansum(hourly_imbalance(loads, assignment)))


def zero_mean_hours(loads: np.ndarray) -> np.ndarray:
    """Indices of the intervals whose mean load is 0 (skipped by the metric)."""
    return np.flatnonzero(np.asarray(loads, dtype=np.float64).sum(axis=0) == 0)


@dataclass(frozen=True)
class NormalizedLoads:
    """``l[j, t] = loads[j, t] / mean[t]`` over the kept hours (``mean > 0``).

    ``d0[t, p]`` is the normalized deviation of phase ``p`` at the initial
    assignment; ``sum_p d0[t, p] = 0`` in every kept hour.
    """

    l: np.ndarray  # (J, T') float64
    initial_phase: np.ndarray  # (J,)
    d0: np.ndarray  # (T', 3)
    kept_hours: np.ndarray  # (T',) indices into the problem's hours
    skipped_hours: np.ndarray

    @classmethod
    def from_problem(cls, problem: PhaseBalanceProblem) -> NormalizedLoads:
        total = problem.loads.sum(axis=0)
        if np.any(total < 0):
            t = int(np.argmax(total < 0))
            raise ValueError(f"interval {problem.timestamps[t]}: total load {total[t]:.6g} is negative")
        kept = np.flatnonzero(total > 0)
        l = problem.loads[:, kept] * (3.0 / total[kept])[None, :]
        d0 = phase_aggregates(l, problem.initial_phase) - 1.0
        return cls(l=l, initial_phase=problem.initial_phase, d0=d0, kept_hours=kept,
                   skipped_hours=np.flatnonzero(total == 0))

    def deviations(self, assignment: np.ndarray) -> np.ndarray:
        """``d[t, p]`` for an assignment, shape ``(T', 3)``."""
        return phase_aggregates(self.l, assignment) - 1.0

    def objective(self, assignment: np.ndarray) -> float:
        """The imbalance of ``assignment`` computed from normalized loads (equals :func:`imbalance`)."""
        return float(np.abs(self.deviations(assignment)).max(axis=1).sum())
