"""The study's formulation (reference) and the compact epigraph formulation, in cvxpy.

Study (reference): binaries ``x[j, p]``, explicit per-phase aggregates
``agg[t, p] = sum_j L[j, t] x[j, p]``, two absolute-value rows per hour and phase
``u[t, p] >= +-(agg[t, p] - mean[t]) / mean[t]`` and ``z[t] >= u[t, p]``;
minimize ``sum_t z[t]`` with ``sum_p x[j, p] = 1`` and at most K changes.

Epigraph: the same binaries and ``z[t] >= s * d[t, p]`` for the 6 pieces of
:mod:`~lascopf_assets.lib.phase_balance.linearization` (one variable and 6 rows
per hour, no aggregates).

Both are solved through cvxpy with HiGHS or SCIP. The objective reported is the
metric recomputed at the returned assignment, never the solver's number; the status is
the solver's own, read back past cvxpy's folding (:mod:`~lascopf_assets.lib.solver_status`).
"""

from __future__ import annotations

import math
import time

import cvxpy as cp
import numpy as np

from lascopf_assets.lib.phase_balance.metric import NormalizedLoads
from lascopf_assets.lib.phase_balance.problem import PhaseBalanceProblem
from lascopf_assets.lib.phase_balance.result import PhaseBalanceResult, changes_between, fewest_changes_relabeling
from lascopf_assets.lib.solver_status import ERROR, INFEASIBLE, OPTIMAL, TIME_LIMIT, solve_cvxpy

FORMULATIONS = ("study", "epigraph")
_CVXPY_SOLVER = {"highs": cp.HIGHS, "scip": cp.SCIP}


def build_model(problem: PhaseBalanceProblem, max_changes: int, formulation: str = "study"):
    """The cvxpy problem and its assignment variable ``x`` (J x 3 boolean)."""
    norm = NormalizedLoads.from_problem(problem)
    J = problem.n_junctions
    T = len(norm.kept_hours)
    x = cp.Variable((J, 3), boolean=True)
    current = np.zeros((J, 3))
    current[np.arange(J), problem.initial_phase] = 1.0
    cons = [cp.sum(x, axis=1) == 1, J - cp.sum(cp.multiply(current, x)) <= max_changes]
    z = cp.Variable(T)
    if formulation == "study":
        loads = problem.loads[:, norm.kept_hours]
        mean = loads.sum(axis=0) / 3.0
        agg = cp.Variable((T, 3))
        u = cp.Variable((T, 3))
        dev = cp.multiply((1.0 / mean)[:, None], agg - mean[:, None])
        cons += [agg == loads.T @ x, u >= dev, u >= -dev]
        cons += [z >= u[:, p] for p in range(3)]
    elif formulation == "epigraph":
        d = norm.l.T @ x - 1.0
        cons += [z >= d[:, p] for p in range(3)] + [z >= -d[:, p] for p in range(3)]
    else:
        raise ValueError(f"unknown formulation {formulation!r}; choose one of {', '.join(FORMULATIONS)}")
    return cp.Problem(cp.Minimize(cp.sum(z)), cons), x, norm


def _dual_bound(prob: cp.Problem, solver: str) -> float:
    stats = prob.solver_stats
    extra = getattr(stats, "extra_stats", None)
    # cvxpy 1.9 hands back HiGHS's HighsInfo and, for SCIP, a dict holding the pyscipopt Model.
    if solver == "highs" and hasattr(extra, "mip_dual_bound"):
        return float(extra.mip_dual_bound)
    if solver == "scip" and isinstance(extra, dict) and extra.get("model") is not None:
        return float(extra["model"].getDualbound())
    return math.nan


def _feasible_assignment(value, problem: PhaseBalanceProblem, max_changes: int) -> np.ndarray | None:
    """The phase per junction encoded by ``x.value``, or None if it is not a feasible 0/1 assignment."""
    if value is None:
        return None
    v = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(v)) or np.any(np.abs(v - np.round(v)) > 1e-4) or np.any(np.abs(v.sum(axis=1) - 1) > 1e-4):
        return None
    assignment = np.argmax(v, axis=1)
    if np.count_nonzero(assignment != problem.initial_phase) > max_changes:
        return None
    return assignment


def solve_reference(problem: PhaseBalanceProblem, max_changes: int, solver: str = "highs",
                    time_limit: float | None = None, formulation: str = "study",
                    gap_tolerance: float = 1e-6, solver_options: dict | None = None) -> PhaseBalanceResult:
    """Solve a cvxpy formulation; on a time limit return the best assignment found and its gap.

    ``solver_options``: HiGHS options or SCIP parameters, handed to the solver through cvxpy.
    """
    if max_changes < 0:
        raise ValueError(f"max_changes must be >= 0, got {max_changes}")
    if solver not in _CVXPY_SOLVER:
        raise ValueError(f"unknown solver {solver!r}; choose one of highs, scip")
    t0 = time.perf_counter()
    prob, x, norm = build_model(problem, max_changes, formulation)
    initial = norm.objective(problem.initial_phase)
    kwargs: dict = {}
    if solver == "highs":
        kwargs = {"mip_rel_gap": gap_tolerance}
        if time_limit is not None:
            kwargs["time_limit"] = float(max(time_limit - (time.perf_counter() - t0), 1.0))
        kwargs.update(solver_options or {})
    else:
        params = {"limits/gap": gap_tolerance}
        if time_limit is not None:
            params["limits/time"] = float(max(time_limit - (time.perf_counter() - t0), 1.0))
        kwargs = {"scip_params": {**params, **(solver_options or {})}}
    outcome = solve_cvxpy(prob, _CVXPY_SOLVER[solver], **kwargs)
    elapsed = time.perf_counter() - t0
    assignment = _feasible_assignment(x.value, problem, max_changes)  # None unless a feasible 0/1 point
    # The current assignment is always feasible: keep it when the solver has nothing better.
    if assignment is None or norm.objective(assignment) > initial:
        assignment = problem.initial_phase.copy()
    assignment = fewest_changes_relabeling(problem.initial_phase, assignment)  # same imbalance, fewer visits
    value = norm.objective(assignment)
    bound = _dual_bound(prob, solver) if outcome.status in (OPTIMAL, TIME_LIMIT) else math.nan
    if not math.isfinite(bound):
        bound = 0.0
    bound = max(0.0, min(bound, value))
    gap = 0.0 if value <= 0 else (value - bound) / value
    status, reason = outcome.status, outcome.reason
    if status == OPTIMAL and gap > 2 * gap_tolerance + 1e-9:
        status = ERROR
        reason = (f"{reason or solver + ' reported optimal'}, yet the imbalance at its assignment "
                  f"{value:.9g} is above its bound {bound:.9g} (gap {gap:.2e})")
    elif status == INFEASIBLE:  # the current assignment is feasible: the solver is wrong
        status, reason = ERROR, f"{reason}, but keeping the current phases is always feasible"
    return PhaseBalanceResult(
        status=status, reason=reason, max_changes=max_changes, initial_imbalance=initial, imbalance=value, bound=bound,
        assignment=assignment, changes=changes_between(problem, assignment), solve_seconds=elapsed,
        method=f"reference-{formulation}", solver=solver,
        skipped_hours=list(problem.timestamps[norm.skipped_hours]),
        unlimited=max_changes >= problem.n_junctions, solver_seconds=outcome.solver_seconds,
    )
