"""Why a LASCOPF is infeasible: generation and ramps, base-case flows, or which outages.

Each check re-solves a relaxation with hard limits: without flow-limit rows, with
the base-case rows only, then with the base rows and one outage's rows at a time.
Corrective security checks each outage twice: its flows at the outage within the
emergency rating, then with its trajectories (back within ``rateA`` after N steps).
Generator outages first check their response limits alone (the other units' headroom), and
each generator outage checked brings its own response rows.
"""

from __future__ import annotations

import numpy as np

from .data import LascopfData
from .formulation import build_problem
from .rows import ResponseRows, RowSet, Trajectories, all_response_rows, all_rows, all_trajectories
from .solve import solve_problem


def is_feasible(
    data: LascopfData, rows: RowSet, solver: str, solver_options: dict | None, trajectories: Trajectories | None = None,
    response: ResponseRows | None = None,
) -> bool:
    """Whether the LASCOPF with ``rows`` (and ``trajectories``, ``response`` rows) solves to an optimum."""
    return solve_problem(build_problem(data, rows, trajectories, response).problem, solver, solver_options).ok


def diagnose_infeasibility(
    data: LascopfData, rows: RowSet, solver, solver_options, max_checks: int = 20, trajectories: Trajectories | None = None,
    response: ResponseRows | None = None,
) -> str:
    """Name the constraint family that makes the problem infeasible (generation/ramp, base flows, generator-outage
    response, or which outages)."""
    hard = data.replace(soft_penalty=None, soft_slack="row")
    if not is_feasible(hard, RowSet.empty(), solver, solver_options):
        return _generation_cause(data)
    full = all_rows(data)
    is_base = full.k == -1
    if not is_feasible(hard, full.select(is_base), solver, solver_options):
        return "base-case flow limits cannot be met (with the generation and ramp limits)"
    every_response = all_response_rows(data)
    if len(every_response) and not is_feasible(hard, full.select(is_base), solver, solver_options, response=every_response):
        return ("generator-outage response limits cannot be met: the other units cannot keep the headroom to pick up "
                "a lost unit's output in proportion to their participation factors")
    names = data.outage_names()
    K = data.n_branch_outages

    def own_response(k):
        return every_response.select(every_response.j == k - K) if k >= K else None

    held_response = (response.j + K) if response is not None else np.zeros(0, dtype=int)
    if data.corrective is not None:
        held = trajectories.pair_k if trajectories is not None else np.zeros(0, dtype=int)
        outages = np.unique(np.concatenate([rows.k[rows.k >= 0], held, held_response]))[:max_checks]
        return _corrective_cause(data, full, is_base, outages, names, solver, solver_options, own_response)
    outages = np.unique(np.concatenate([rows.k[rows.k >= 0], held_response]))[:max_checks]
    culprits = []
    for k in outages:  # a handful of single-outage feasibility checks
        if not is_feasible(data, full.select(is_base | (full.k == k)), solver, solver_options, response=own_response(k)):
            culprits.append(names[k])
    if culprits:
        return f"preventive N-1 limits cannot be met under the outage of {', '.join(culprits)}"
    return "preventive N-1 limits cannot be met by any dispatch (several outages together)"


def _corrective_cause(data: LascopfData, full: RowSet, is_base: np.ndarray, outages: np.ndarray, names: np.ndarray,
                      solver, solver_options, own_response) -> str:
    """Which outages break corrective security: their flows at the outage (emergency rating) or their restoration."""
    settings = data.corrective.settings
    every = all_trajectories(data)
    at_outage, restoration = [], []
    for k in outages:  # a handful of single-outage feasibility checks
        own_rows = full.select(is_base | (full.k == k))
        if not is_feasible(data, own_rows, solver, solver_options, Trajectories.empty(), own_response(k)):
            at_outage.append(names[k])
        elif not is_feasible(data, own_rows, solver, solver_options, every.select_pairs(every.pair_k == k), own_response(k)):
            restoration.append(names[k])
    causes = []
    if at_outage:
        causes.append(f"under the outage of {', '.join(at_outage)} (flows at the outage above the emergency rating)")
    if restoration:
        steps = f"{settings.restore_intervals} restoration step{'s' if settings.restore_intervals > 1 else ''}"
        causes.append(
            f"under the outage of {', '.join(restoration)} (flows not back within rateA after {steps} of "
            f"{settings.restore_minutes:g} min)"
        )
    if causes:
        return "corrective N-1 limits cannot be met " + "; ".join(causes)
    return "corrective N-1 limits cannot be met by any dispatch (several outages together)"


def _generation_cause(data: LascopfData) -> str:
    """Which demand the generators cannot meet: in reach of PgPrev, within Pmin..Pmax, or between intervals."""
    gen = data.model.network.gen
    pmin, pmax = gen["pmin_mw"].to_numpy(float), gen["pmax_mw"].to_numpy(float)
    prev = gen["p_prev_mw"].to_numpy(float)
    has_prev = np.isfinite(prev)
    reachable_lo = np.where(has_prev, np.maximum(pmin, prev - gen["ramp_down_mw"].to_numpy(float)), pmin)
    reachable_hi = np.where(has_prev, np.minimum(pmax, prev + gen["ramp_up_mw"].to_numpy(float)), pmax)
    demand = data.loads_mw.sum(axis=0) + data.model.gs_mw.sum()
    if has_prev.any() and (demand[0] > reachable_hi.sum() + 1e-9 or demand[0] < reachable_lo.sum() - 1e-9):
        return (
            f"interval 1: demand {demand[0]:.2f} MW outside the {reachable_lo.sum():.2f}..{reachable_hi.sum():.2f} MW "
            "reachable from PgPrev within the ramp limits"
        )
    short = np.flatnonzero((demand > pmax.sum() + 1e-9) | (demand < pmin.sum() - 1e-9))
    if short.size:
        return (
            f"interval {short[0] + 1}: demand {demand[short[0]]:.2f} MW outside generation limits "
            f"{pmin.sum():.2f}..{pmax.sum():.2f} MW"
        )
    return "generation and ramp limits cannot follow the load between intervals"
