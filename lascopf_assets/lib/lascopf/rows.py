"""Flow-limit rows: which (branch, outage, interval) triples a model holds, and which ones a dispatch violates.

A row ``(l, k, t)`` limits the flow on branch ``l`` in interval ``t`` after outage
``k`` (``k = -1``: the base case). The extensive form holds :func:`all_rows`;
screening starts with none and adds :func:`violated_rows` until none is left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import LascopfData


@dataclass
class RowSet:
    """Flow-limit rows: monitored branch ``l``, outage column ``k`` (-1 = base case), interval ``t``."""

    l: np.ndarray
    k: np.ndarray
    t: np.ndarray

    @classmethod
    def empty(cls) -> RowSet:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), z.copy())

    def __len__(self) -> int:
        return len(self.l)

    def keys(self, n_outages: int, n_intervals: int) -> np.ndarray:
        return (self.l * (n_outages + 1) + (self.k + 1)) * n_intervals + self.t

    def extend(self, other: RowSet) -> RowSet:
        return RowSet(np.concatenate([self.l, other.l]), np.concatenate([self.k, other.k]), np.concatenate([self.t, other.t]))

    def select(self, mask: np.ndarray) -> RowSet:
        """The rows where ``mask`` is true, in their order."""
        return RowSet(self.l[mask], self.k[mask], self.t[mask])


def all_rows(data: LascopfData) -> RowSet:
    """Every finite base row and every post-contingency row (l != k, finite rating): the extensive form."""
    T = data.n_intervals
    base_branches = np.flatnonzero(np.isfinite(data.base_lo) | np.isfinite(data.base_hi))
    monitored_l, outage_k = np.meshgrid(data.monitored_branches(), np.arange(len(data.outaged)), indexing="ij")
    not_self = monitored_l != data.outaged[outage_k]
    monitored_l, outage_k = monitored_l[not_self], outage_k[not_self]
    rows_l = np.concatenate([base_branches, monitored_l])
    rows_k = np.concatenate([np.full(base_branches.size, -1), outage_k])
    per_interval = rows_l.size
    return RowSet(np.tile(rows_l, T), np.tile(rows_k, T), np.repeat(np.arange(T), per_interval))


def violated_rows(
    data: LascopfData, flows: np.ndarray, tol_mw: float, per_branch: int | None = None, present: RowSet | None = None
) -> RowSet:
    """Base and post-contingency rows whose flow exceeds its limit by more than ``tol_mw`` (relative to max(1, limit)).

    ``per_branch``: keep only the ``per_branch`` worst outages per monitored branch and
    interval (screening adds the rest later if they are still violated); ``None`` = all.
    ``present``: rows already in the model, never returned (with soft limits they may
    stay violated, paid by their slack).
    """
    sensitivities = data.contingencies.sensitivities
    monitored = data.monitored_branches()
    lo, hi = data.base_lo, data.base_hi
    base_scale = np.minimum(np.abs(lo), np.abs(hi))
    base_tol = tol_mw * np.maximum(1.0, np.where(np.isfinite(base_scale), base_scale, 1.0))
    out_l, out_k, out_t = [], [], []
    monitored_rate = data.rate[monitored][:, None]
    post_tol = tol_mw * np.maximum(1.0, monitored_rate)
    monitored_pos = np.full(len(data.rate), -1)
    monitored_pos[monitored] = np.arange(monitored.size)
    self_rows = monitored_pos[sensitivities.outaged]  # the outaged branch's own row in each column (-1 if unmonitored)
    self_cols = np.flatnonzero(self_rows >= 0)
    present = present if present is not None else RowSet.empty()
    present_base = np.zeros((len(data.rate), data.n_intervals), dtype=bool)
    present_base[present.l[present.k < 0], present.t[present.k < 0]] = True
    present_post = present.k >= 0
    monitored_lodf = data.monitored_lodf() if len(sensitivities.outaged) and monitored.size else None
    post_bound = (monitored_rate + post_tol).ravel()
    for t in range(data.n_intervals):  # one vectorized (branches x outages) block per interval
        flow = flows[:, t]
        base_violated = np.flatnonzero(((flow > hi + base_tol) | (flow < lo - base_tol)) & ~present_base[:, t])
        out_l.append(base_violated)
        out_k.append(np.full(base_violated.size, -1))
        out_t.append(np.full(base_violated.size, t))
        if monitored_lodf is None:
            continue
        # monitored branches x outages: |post-contingency flow| - (rating + tolerance), MW
        excess = monitored_lodf * flow[sensitivities.outaged][None, :]
        excess += flow[monitored][:, None]
        np.abs(excess, out=excess)
        excess -= post_bound[:, None]
        excess[self_rows[self_cols], self_cols] = -np.inf
        present_here = present_post & (present.t == t)
        excess[monitored_pos[present.l[present_here]], present.k[present_here]] = -np.inf
        overloaded = np.flatnonzero((excess > 0).any(axis=1))  # monitored rows with a violation
        if not overloaded.size:
            continue
        overloaded_excess = excess[overloaded]
        if per_branch is not None and per_branch < overloaded_excess.shape[1]:
            worst = np.argpartition(-overloaded_excess, per_branch - 1, axis=1)[:, :per_branch]
            keep = np.zeros_like(overloaded_excess, dtype=bool)
            np.put_along_axis(keep, worst, True, axis=1)
            over = keep & (overloaded_excess > 0)
        else:
            over = overloaded_excess > 0
        row_i, outage_i = np.nonzero(over)
        out_l.append(monitored[overloaded[row_i]])
        out_k.append(outage_i)
        out_t.append(np.full(row_i.size, t))
    return RowSet(np.concatenate(out_l).astype(np.int64), np.concatenate(out_k).astype(np.int64), np.concatenate(out_t).astype(np.int64))
