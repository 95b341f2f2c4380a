"""Solving a built LASCOPF: the default solver, the Clarabel fallback ladder, and the solve's timings.

Quadratic costs go to Clarabel, linear/piecewise-linear costs to HiGHS. Statuses are
the vocabulary of :mod:`lascopf_assets.lib.solver_status`.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from ..network.model import Network
from ..solver_status import ERROR, INFEASIBLE, OPTIMAL, SolverOutcome, solve_cvxpy

# Clarabel sometimes stops with "insufficient progress" on nearly redundant
# post-contingency rows; these settings are retried in order before giving up.
CLARABEL_FALLBACKS = (
    {"static_regularization_constant": 1e-7},
    {"max_step_fraction": 0.9},
    {"static_regularization_constant": 1e-6, "max_step_fraction": 0.9},
)


def default_solver(network: Network) -> str:
    return cp.CLARABEL if network.is_quadratic() else cp.HIGHS


def solve_problem(problem: cp.Problem, solver: str, solver_options: dict | None = None) -> SolverOutcome:
    """Solve with the Clarabel fallback ladder; the last attempt's outcome unless one is optimal or infeasible."""
    attempts = [dict(solver_options or {})]
    if solver == cp.CLARABEL:
        attempts += [{**(solver_options or {}), **fallback} for fallback in CLARABEL_FALLBACKS]
    outcome = SolverOutcome(ERROR, f"{solver}: not run")
    for options in attempts:
        outcome = solve_cvxpy(problem, solver, **options)
        if outcome.status in (OPTIMAL, INFEASIBLE):
            return outcome
    return outcome


def solve_timings(problem: cp.Problem) -> tuple[float, float]:
    """cvxpy's compilation time and the solver's own time of the last solve (NaN when unknown)."""
    compile_s = getattr(problem, "compilation_time", None)
    stats = getattr(problem, "solver_stats", None)
    solver_s = getattr(stats, "solve_time", None) if stats is not None else None
    return (float(compile_s) if compile_s is not None else np.nan, float(solver_s) if solver_s is not None else np.nan)
