"""Exact large-neighbourhood search: re-optimize a random set of junctions exactly, the rest fixed.

For the unlimited setting (every junction free to move), where no bound the tree can prove in minutes
comes near the incumbent, so the assignment the user gets is what a solve is worth. One step: draw
``size`` junctions at random; solve, exactly, the problem in which they may take any phase and every
other junction keeps its phase in the current assignment (the problem re-based on that assignment, with
``K = size`` and the moves of the others fixed to 0: a small problem the exact method proves in about a
second at 40 x 8760); keep the result if it is better. A step is *proven* when its solve reached
optimality: then no assignment that differs from the current one on those junctions only is better.

Measured on the demo zone (40 x 8760, from the local search's 345.5): sets of 12 junctions reached 178.0
in 120 s (82 steps), sets of 16 182.4 (each step slower: 11 steps); re-basing on the incumbent with all
junctions free and ``K`` = 3 or 4 instead (every set of 3-4 changes at once) reached 180.8 / 177.7.
The single SCIP tree over all junctions reached 186.3 in 120 s.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lascopf_assets.lib.phase_balance.problem import PhaseBalanceProblem
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


def search_neighbourhoods(problem: PhaseBalanceProblem, start: np.ndarray, start_value: float,
                          solve_neighbourhood: Callable[[PhaseBalanceProblem, np.ndarray, float], tuple],
                          deadline: float = math.inf, size: int = NEIGHBOURHOOD_JUNCTIONS,
                          seed: int = 0, stale_steps: int = NEIGHBOURHOOD_STALE_STEPS) -> NeighbourhoodSearch:
    """Improve ``start`` (imbalance ``start_value``) by exact neighbourhood steps until ``deadline``
    (a ``time.perf_counter()`` value) or until ``stale_steps`` steps in a row found nothing better.

    ``solve_neighbourhood(rebased, fixed, seconds)`` solves ``rebased`` (``problem`` with the current
    assignment as its initial phases) with at most ``size`` changes and the junctions ``fixed`` kept on
    their phases, and returns ``(status, assignment, imbalance)``."""
    J = problem.n_junctions
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
        rebased = dataclasses.replace(problem, initial_phase=found.assignment)
        status, x, value = solve_neighbourhood(rebased, fixed, min(NEIGHBOURHOOD_SECONDS, left))
        found.steps += 1
        found.proven += status == OPTIMAL
        if value < found.imbalance * (1 - 1e-9):
            found.assignment, found.imbalance = np.asarray(x).copy(), float(value)
            found.improved += 1
            stale = 0
        else:
            stale += 1
    return found
