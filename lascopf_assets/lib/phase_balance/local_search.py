"""Greedy and swap local search for good assignments (incumbents for the exact method).

Works on :class:`~lascopf_assets.lib.phase_balance.metric.NormalizedLoads`. A
move re-phases one junction; all moves are evaluated together in batches
(``(batch, T, 3)`` arrays), never junction by junction over the hours.
"""

from __future__ import annotations

import time

import numpy as np

from lascopf_assets.lib.phase_balance.metric import NormalizedLoads

_BATCH_ELEMENTS = 6_000_000  # float64 elements per evaluation batch (~48 MB)


def _move_objectives(norm: NormalizedLoads, d: np.ndarray, current: np.ndarray,
                     junctions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Objective after moving each ``junctions[i]`` from its current phase to ``targets[i]``."""
    T = d.shape[0]
    out = np.empty(len(junctions))
    batch = max(1, _BATCH_ELEMENTS // (3 * T))
    for start in range(0, len(junctions), batch):
        js = junctions[start:start + batch]
        qs = targets[start:start + batch]
        rows = np.arange(len(js))
        trial = np.repeat(d[None, :, :], len(js), axis=0)
        lj = norm.l[js]  # (b, T)
        trial[rows, :, current[js]] -= lj
        trial[rows, :, qs] += lj
        out[start:start + batch] = np.abs(trial).max(axis=2).sum(axis=1)
    return out


def improve(norm: NormalizedLoads, assignment: np.ndarray, max_changes: int,
            max_rounds: int = 1000, deadline: float | None = None,
            movable: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Best-improvement local search from ``assignment`` with at most ``max_changes`` changes.

    Neighbourhood: re-phase one junction (keeping the change count within the
    cap), or, at the cap, undo one change and re-phase another junction (swap).
    ``movable`` (boolean per junction, None: all): the junctions that may be re-phased; the others keep
    their phase in ``assignment`` (a change there still counts against the cap).
    Returns the local optimum (or the best point reached by ``deadline``, a
    ``time.perf_counter()`` value) and its objective.
    """
    x = np.array(assignment, dtype=np.int64)
    p0 = norm.initial_phase
    J = len(x)
    movable = np.ones(J, dtype=bool) if movable is None else np.asarray(movable, dtype=bool)
    if np.count_nonzero(x != p0) > max_changes:
        raise ValueError("start assignment exceeds the change cap")
    d = norm.deviations(x)
    best = float(np.abs(d).max(axis=1).sum())
    all_j = np.repeat(np.arange(J), 2)
    for _ in range(max_rounds):
        if deadline is not None and time.perf_counter() >= deadline:
            break
        changed = x != p0
        n_changed = int(changed.sum())
        targets = (x[all_j] + 1 + np.tile([0, 1], J)) % 3
        allowed = ((n_changed < max_changes) | changed[all_j] | (targets == p0[all_j])) & movable[all_j]
        cand_j, cand_q = all_j[allowed], targets[allowed]
        step = None
        if len(cand_j):
            obj = _move_objectives(norm, d, x, cand_j, cand_q)
            i = int(np.argmin(obj))
            if obj[i] < best - 1e-12 * max(1.0, best):
                step = ([cand_j[i]], [cand_q[i]], float(obj[i]))
        if step is None and max_changes > 0 and n_changed > 0 and n_changed >= max_changes:
            # Swap: undo one change, then re-phase one unchanged junction.
            for i_j in np.flatnonzero(changed & movable):
                d_i = d.copy()
                d_i[:, x[i_j]] -= norm.l[i_j]
                d_i[:, p0[i_j]] += norm.l[i_j]
                x_i = x.copy()
                x_i[i_j] = p0[i_j]
                free = np.flatnonzero((x_i == p0) & (np.arange(J) != i_j) & movable)
                if len(free) == 0:
                    continue
                fj = np.repeat(free, 2)
                fq = (x_i[fj] + 1 + np.tile([0, 1], len(free))) % 3
                obj = _move_objectives(norm, d_i, x_i, fj, fq)
                k = int(np.argmin(obj))
                if obj[k] < best - 1e-12 * max(1.0, best) and (step is None or obj[k] < step[2]):
                    step = ([i_j, fj[k]], [p0[i_j], fq[k]], float(obj[k]))
        if step is None:
            break
        for j, q in zip(*step[:2]):
            d[:, x[j]] -= norm.l[j]
            d[:, q] += norm.l[j]
            x[j] = q
        best = float(np.abs(d).max(axis=1).sum())
    return x, best


def greedy(norm: NormalizedLoads, max_changes: int) -> tuple[np.ndarray, float]:
    """Local search from the initial assignment (greedy moves first, then swaps)."""
    return improve(norm, norm.initial_phase, max_changes)
