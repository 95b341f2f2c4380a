"""Exact centralized LASCOPF: iterative contingency screening, or the extensive form.

Screening: solve with the flow-limit rows found so far, compute every base and
post-contingency flow with the LODFs, add the violated rows, repeat until none
is violated. At that point the solution is optimal for the extensive form
(all rows at once), which :func:`solve_lascopf` with ``method="extensive"`` builds.

Corrective security (:mod:`.corrective`) screens the trajectories the same way: an
(outage, interval) pair gets a trajectory once its flows at the outage exceed ``rateA``
(until then ``Q = P[:, t]`` meets its rows at no cost), and a trajectory gets the rows
it violates; the screened problem is a relaxation of the extensive one whose solution,
once nothing is violated, extends to an extensive solution of the same cost. With soft limits
(``soft_limit_penalty``) the flows at the outage and the trajectory rows carry penalized slacks
(:func:`.formulation.define_soft_limit_slacks`); a row not held is checked against its limit
without slack (held rows may stay violated, paid by theirs), so the same argument holds.

Generator outages (:mod:`.generator_outages`) are outage columns after the branch outages: their
flow rows are screened with the others (the flows after the loss of ``g`` under the participation
response), and their response-limit rows (each responding unit within ``Pmin..Pmax``) are
screened the same way (per unit and interval the worst violated outages first).

The pieces: :mod:`.data` (loads, limits), :mod:`.rows` (which rows, which are
violated), :mod:`.formulation` (the cvxpy problem), :mod:`.solve` (solver and
fallbacks), :mod:`.solution` (result tables), :mod:`.diagnosis` (why infeasible).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..network.dc_model import build_dc_model
from ..network.model import Network
from ..solver_status import ERROR, SolverOutcome
from .contingency_set import ContingencySet, resolve_contingencies
from .corrective import CORRECTIVE, ENDPOINT, SECURITY_MODES, CorrectiveSettings
from .data import flows_from_angles, load_matrix, make_data
from .diagnosis import diagnose_infeasibility
from .endpoint import endpoint_data, new_pairs, straight_line_failures, to_full_trajectories
from .formulation import build_problem
from .result import LascopfResult
from .rows import (
    ResponseRows,
    RowSet,
    Trajectories,
    all_response_rows,
    all_rows,
    all_trajectories,
    violated_response_rows,
    violated_rows,
    violated_trajectory_rows,
)
from .solution import fill_tables
from .solve import default_solver, solve_problem, solve_timings

HISTORY_COLUMNS = [
    "iteration", "rows", "new_rows", "objective", "build_seconds", "solve_seconds", "compile_seconds", "solver_seconds",
]


def solve_lascopf(
    network: Network,
    loads_by_interval=None,
    contingencies="marked",
    method: str = "screening",
    soft_limit_penalty: float | None = None,
    solver: str | None = None,
    solver_options: dict | None = None,
    max_iterations: int = 50,
    tol_mw: float = 1e-6,
    diagnose: bool = True,
    on_iteration=None,
    rows_per_branch: int | None = None,
    soft_slack: str = "row",
    security: str = "preventive",
    restore_intervals: int | None = None,
    restore_minutes: float = 15.0,
    emergency_factor: float = 1.2,
    corrective_cost: float = 0.0,
    interval_minutes: float = 60.0,
    generator_contingencies="listed",
    participation=None,
    trajectory_form: str = ENDPOINT,
    max_new_pairs: int | None = None,
    pairs_after_rows: bool = True,
) -> LascopfResult:
    """Solve the look-ahead SCOPF exactly: preventive (default) or corrective N-1 security.

    ``loads_by_interval``: n_bus x T MW (array, or DataFrame indexed by bus id with
    one column per interval); default: the data's own profile or case loads.
    ``contingencies``: ``"marked" | "all" | "none"``, a contab path, a branch-name
    list, or a resolved :class:`ContingencySet`. ``method``: ``"screening"`` or
    ``"extensive"``. ``soft_limit_penalty``: $/MWh on post-contingency overloads
    (``None`` = hard limits). ``on_iteration``: called with each history row (a dict; corrective
    adds ``trajectory_pairs`` and ``trajectory_rows``, those held for the next solve).
    ``rows_per_branch``: screening adds at most this many violated outages per monitored
    branch and interval per iteration (the worst ones; ``None`` = all violated rows).
    ``soft_slack``: ``"row"`` (default) one penalized slack per post-contingency row
    (branch, outage, interval); ``"branch"`` one per monitored branch and interval, shared
    by all its outages (the worst post-contingency overload is paid). Soft limits work with
    both securities: preventive relaxes the post-contingency rows (``rateA``); corrective
    relaxes the flows at the outage (within ``E``) and every trajectory step's flows (``E`` for
    ``s < N``, ``rateA`` at ``s = N``), all at the same $/MWh (``"branch"``: one slack per
    ``(l, t)`` shared by those rows of every outage and step; ``"row"``: one per row and step).
    Base-case limits, the balance, the unit and ramp limits (of ``P`` and of the trajectories)
    and the generator-outage response limits stay hard (:func:`.formulation.define_soft_limit_slacks`).
    ``security``: ``"preventive"`` (post-contingency flows within ``rateA`` under the same
    dispatch) or ``"corrective"``: flows at the outage within the emergency rating, then
    ``restore_intervals`` steps of ``restore_minutes`` to bring them within ``rateA``
    (:mod:`.corrective`; ``emergency_factor`` x ``rateA`` where the case gives no rateB/rateC,
    ``corrective_cost`` $/MW of movement, ``interval_minutes`` the dispatch interval the ramps are per).
    ``generator_contingencies``: ``"listed"`` (the generator outages ``contingencies`` names: a
    MATPOWER contab's ``CT_TGEN`` rows), ``"all"``, ``"none"`` or a list of generator names
    (:func:`.contingency_set.resolve_contingencies`; ignored when ``contingencies`` is a resolved set).
    ``participation``: the units' participation weights after a generator outage (n_gen, default ``Pmax``;
    :mod:`.generator_outages`).
    ``trajectory_form`` (corrective): ``"endpoint"`` (default) gives a pair only ``Q_N``, checks the straight line
    to it against every intermediate row and gives the pairs whose line fails full trajectories, solving again
    until none fails (the same optimum, :mod:`.endpoint`); ``"full"`` every step's ``Q`` (the reference form).
    ``max_new_pairs`` (corrective screening): at most this many new (outage, interval) pairs per iteration, the
    most overloaded at the outage (``None`` = all; screening still ends only when nothing is violated).
    ``pairs_after_rows`` (corrective screening, default on): new pairs are added only in an iteration that adds no
    flow-limit or response row, i.e. chosen under a dispatch that already meets every row found so far (the first,
    unconstrained dispatch overloads many outages that the rows at the emergency rating then relieve: on ACTIVSg10k
    x 24 h 78,651 pairs, of which 282 need a trajectory at the optimum); the same optimum, at the cost of one more
    iteration on small cases. ``False`` adds every violated pair at once.
    """
    t_start = time.perf_counter()
    if method not in ("screening", "extensive"):
        raise ValueError(f"unknown method {method!r} (screening|extensive)")
    if soft_limit_penalty is not None and not soft_limit_penalty > 0:
        raise ValueError("soft_limit_penalty must be a positive number")
    if security not in SECURITY_MODES:
        raise ValueError(f"unknown security {security!r} (preventive|corrective)")
    corrective = None
    if security == CORRECTIVE:
        if restore_intervals is None:
            raise ValueError("corrective security needs restore_intervals (>= 1)")
        corrective = CorrectiveSettings(
            restore_intervals, restore_minutes, emergency_factor, corrective_cost, interval_minutes, trajectory_form
        )
    if max_new_pairs is not None and (isinstance(max_new_pairs, bool) or int(max_new_pairs) != max_new_pairs
                                      or max_new_pairs < 1):
        raise ValueError(f"max_new_pairs must be an integer >= 1 or None, got {max_new_pairs!r}")
    loads = load_matrix(network, loads_by_interval)
    model = build_dc_model(network)
    contingency_set = (
        contingencies if isinstance(contingencies, ContingencySet)
        else resolve_contingencies(model, contingencies, generator_contingencies)
    )
    data = make_data(model, loads, contingency_set, soft_limit_penalty, soft_slack, corrective, participation)
    solver = solver or default_solver(network)

    history = []
    rows = all_rows(data) if method == "extensive" else RowSet.empty()
    response = all_response_rows(data) if method == "extensive" else ResponseRows.empty()
    trajectories = endpoints = end_data = every = None
    if corrective is not None:
        if corrective.trajectory_form == ENDPOINT:
            end_data = endpoint_data(data)
            endpoints = all_trajectories(end_data) if method == "extensive" else Trajectories.empty()
            trajectories = Trajectories.empty()
            every = all_trajectories(data) if method == "extensive" else None
        else:
            trajectories = all_trajectories(data) if method == "extensive" else Trajectories.empty()
    outcome, built = SolverOutcome(ERROR, "not run"), None
    for iteration in range(1, max_iterations + 1):
        t_build = time.perf_counter()
        built = build_problem(data, rows, trajectories, response, endpoints, end_data)
        t_solve = time.perf_counter()
        outcome = solve_problem(built.problem, solver, solver_options)
        t_solved = time.perf_counter()
        seconds = (t_solve - t_build, t_solved - t_solve, *solve_timings(built.problem))
        held = len(rows) + len(response) + sum(len(x) for x in (trajectories, endpoints) if x is not None)
        if not outcome.ok:
            history.append((iteration, held, 0, np.nan, *seconds))
            break
        flows = flows_from_angles(model, built.theta.value)
        dispatch = np.asarray(built.p.value)
        new, new_response = RowSet.empty(), ResponseRows.empty()
        violations = [] if trajectories is not None else None  # corrective: the flows above rateA, from the same blocks
        if method == "screening":
            new = violated_rows(data, flows, tol_mw, rows_per_branch, rows, dispatch, violations)
            new_response = violated_response_rows(data, dispatch, tol_mw, response)
        new_count = len(new) + len(new_response)
        fallback = 0
        if trajectories is not None:
            before = sum(len(x) + x.n_pairs for x in (trajectories, endpoints) if x is not None)
            if method == "screening":
                if built.corrective.q is not None:
                    trajectories = violated_trajectory_rows(data, built.corrective.values(data), trajectories, tol_mw)
                if endpoints is not None and built.endpoint.q is not None:
                    endpoints = violated_trajectory_rows(end_data, built.endpoint.values(end_data), endpoints, tol_mw)
                if not (pairs_after_rows and (len(new) or len(new_response))):
                    trajectories, endpoints = new_pairs(data, end_data, flows, tol_mw, trajectories, endpoints, dispatch,
                                                        max_new_pairs, violations or None)
            after = sum(len(x) + x.n_pairs for x in (trajectories, endpoints) if x is not None)
            new_count += after - before
            if endpoints is not None and not new_count:  # the relaxation has converged: check the straight lines
                failed, *broken = straight_line_failures(data, built, end_data, tol_mw)
                fallback = int(failed.sum())
                endpoints, trajectories = to_full_trajectories(data, endpoints, trajectories, failed, tuple(broken), every)
                new_count += fallback
        history.append((iteration, held, new_count, built.objective_value(), *seconds))
        if on_iteration is not None:
            report = dict(zip(HISTORY_COLUMNS, history[-1]))
            if trajectories is not None:  # corrective: the trajectories the next solve holds
                report.update(
                    trajectory_pairs=trajectories.n_pairs + (endpoints.n_pairs if endpoints is not None else 0),
                    trajectory_rows=len(trajectories) + (len(endpoints) if endpoints is not None else 0),
                    full_pairs=trajectories.n_pairs, endpoint_pairs=endpoints.n_pairs if endpoints is not None else 0,
                    fallback_pairs=fallback,
                )
            on_iteration(report)
        if not new_count:
            break
        rows = rows.extend(new)
        response = response.extend(new_response)
    else:
        outcome = SolverOutcome(
            ERROR, f"screening stopped at its iteration limit ({max_iterations}) with {new_count} violated rows left"
        )
    result = LascopfResult(
        status=outcome.status,
        reason=outcome.reason,
        objective=None,
        method=method,
        solve_seconds=0.0,
        iterations=len(history),
        intervals=data.n_intervals,
        contingencies_modeled=contingency_set.modeled,
        contingencies_skipped=contingency_set.skipped,
        generator_contingencies_modeled=contingency_set.generators_modeled,
        history=pd.DataFrame(history, columns=HISTORY_COLUMNS),
    )
    if result.status == "optimal":
        fill_tables(result, data, built, rows)
    elif result.status == "infeasible" and diagnose:
        held_pairs = trajectories
        if endpoints is not None and trajectories is not None:
            held_pairs = Trajectories.of_pairs(np.concatenate([trajectories.pair_k, endpoints.pair_k]),
                                               np.concatenate([trajectories.pair_t, endpoints.pair_t]))
        result.cause = diagnose_infeasibility(data, rows, solver, solver_options, trajectories=held_pairs, response=response)
    result.security = data.security
    if corrective is not None:
        result.restore_intervals = corrective.restore_intervals
        result.restore_minutes = corrective.restore_minutes
        result.trajectory_form = corrective.trajectory_form
        result.fallback_pairs = trajectories.n_pairs if endpoints is not None else 0
    result.solve_seconds = time.perf_counter() - t_start
    return result
