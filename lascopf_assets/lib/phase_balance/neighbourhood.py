"""Exact large-neighbourhood search: re-optimize a random set of junctions exactly, the rest fixed.

For the unlimited setting (every junction free to move), where no bound the tree can prove in minutes
comes near the incumbent, so that the assignment the user gets is as good as the time allows. One step:
draw ``size`` junctions at random; solve, exactly, the same problem in which every other junction keeps
its phase in the current assignment (their moves fixed: a small problem the exact method proves in about a
second at 40 x 8760); keep the result if it is better. A step is *proven* when its solve reached
optimality: then no assignment that differs from the current one on those junctions only is better.

Measured on the demo zone (40 x 8760, from the local search's 345.5): sets of 12 junctions reached 178.0
in 120 s (82 steps), sets of 16 182.4 (each step slower: 11 steps); re-basing on the incumbent with all
junctions free and ``K`` = 3 or 4 instead (every set of 3-4 changes at once) reached 180.8 / 177.7; growing
the set after fast proven steps and shrinking it after slow ones, 180.0 (the synthetic instance: 191.4
against 193.5 with 12). The single SCIP tree over all junctions reached 186.3-189.6 in 120 s.

Not below the cap. With the cap binding, a better assignment must undo one move and make another, so a
random set helps only when it holds both: on the demo zone's curve under 120 s (the tree 75 % of each
unproven K's time, the search the rest) K = 8 got 43 proven steps and one improvement (187.16), K = 9 and
10 none, and the synthetic instance's K = 10, with a quarter less tree, ended at an 11.3 % gap instead
of 4.2 %.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lascopf_assets.lib.solver_status import OPTIMAL

NEIGHBOURHOOD_JUNCTIONS = 12
"""Junctions re-optimized per step (see the module docstring for the sizes measured)."""
NEIGHBOURHOOD_SECONDS = 10.0
"""At most this long per step: a step that does not finish keeps what it found."""
NEIGHBOURHOOD_STALE_STEPS = 40
"""The search stops after this many steps in a row that found nothing better (or at its deadline)."""


@dataclass
class NeighbourhoodSearch:
    assignment: np.ndarray
    imbalance: float
    steps: int = 0  # neighbourhoods solved
    proven: int = 0  # of which to optimality
    improved: int = 0  # of which found a better assignment

    def counts(self) -> dict:
        return {"steps": self.steps, "proven": self.proven, "improved": self.improved}


def search_neighbourhoods(n_junctions: int, start: np.ndarray, start_value: float,
                          solve_neighbourhood: Callable[[np.ndarray, float], tuple],
                          deadline: float = math.inf, size: int = NEIGHBOURHOOD_JUNCTIONS,
                          seed: int = 0, stale_steps: int = NEIGHBOURHOOD_STALE_STEPS) -> NeighbourhoodSearch:
    """Improve ``start`` (imbalance ``start_value``) by exact neighbourhood steps until ``deadline``
    (a ``time.perf_counter()`` value) or until ``stale_steps`` steps in a row found nothing better.

    ``solve_neighbourhood(fixed, seconds)`` solves the problem with the junctions ``fixed`` kept on their
    phases in the best assignment so far (the one this search holds) and returns ``(status, assignment,
    imbalance)`` of the best assignment it knows afterwards."""
    J = n_junctions
    size = min(size, J)
    rng = np.random.default_rng(seed)
    found = NeighbourhoodSearch(np.asarray(start).copy(), float(start_value))
    stale = 0
    while stale < stale_steps:
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        free = rng.choice(J, size, replace=False)
        fixed = np.setdiff1d(np.arange(J), free)
        status, x, value = solve_neighbourhood(fixed, min(NEIGHBOURHOOD_SECONDS, left))
        found.steps += 1
        found.proven += status == OPTIMAL
        if value < found.imbalance * (1 - 1e-9):
            found.assignment, found.imbalance = np.asarray(x).copy(), float(value)
            found.improved += 1
            stale = 0
        else:
            stale += 1
    return found
