"""Independent references for the tests: the metric as a plain loop and exhaustive enumeration."""

from __future__ import annotations

import itertools

import numpy as np


def imbalance_by_loop(loads, assignment) -> float:
    """The definition, term by term, with Python loops (no vectorization)."""
    J, T = len(loads), len(loads[0])
    total = 0.0
    for t in range(T):
        agg = [0.0, 0.0, 0.0]
        for j in range(J):
            agg[int(assignment[j])] += float(loads[j][t])
        mean = (agg[0] + agg[1] + agg[2]) / 3.0
        if mean == 0:
            continue
        total += max(abs(agg[p] - mean) for p in range(3)) / mean
    return total


def brute_force(loads: np.ndarray, initial_phase: np.ndarray, max_changes: int,
                fixed=()) -> tuple[float, np.ndarray]:
    """Minimum imbalance over every assignment with at most ``max_changes`` changes (3^J enumeration), the
    junctions ``fixed`` on their initial phases."""
    J = loads.shape[0]
    every = np.array(list(itertools.product(range(3), repeat=J)), dtype=np.int64)  # (3^J, J)
    fixed = np.asarray(fixed, dtype=np.int64)
    every = every[((every != initial_phase).sum(axis=1) <= max_changes)
                  & (every[:, fixed] == initial_phase[fixed]).all(axis=1)]
    total = loads.sum(axis=0)
    kept = total > 0
    L = loads[:, kept]
    mean = total[kept] / 3.0
    best, best_x = np.inf, None
    for start in range(0, len(every), 2048):
        xs = every[start:start + 2048]
        onehot = (xs[:, :, None] == np.arange(3)).astype(np.float64)  # (B, J, 3)
        agg = np.einsum("jt,bjp->btp", L, onehot)
        values = (np.abs(agg - mean[None, :, None]).max(axis=2) / mean[None, :]).sum(axis=1)
        i = int(np.argmin(values))
        if values[i] < best:
            best, best_x = float(values[i]), xs[i].copy()
    return best, best_x


def random_instance(rng: np.random.Generator, J: int, T: int, zero_hours: int = 0):
    """Loads with uneven sizes and shapes; ``zero_hours`` random hours are set to zero load."""
    size = rng.lognormal(0.0, 0.7, size=J)
    shape = 1 + 0.8 * np.sin(np.arange(T)[None, :] * rng.uniform(0.1, 0.6, size=(J, 1)) + rng.uniform(0, 6, (J, 1)))
    loads = np.round(size[:, None] * shape * rng.uniform(0.5, 1.5, size=(J, T)), 3)
    if zero_hours:
        loads[:, rng.choice(T, size=zero_hours, replace=False)] = 0.0
    phase = rng.choice(3, size=J, p=[0.55, 0.3, 0.15])
    return loads, phase
