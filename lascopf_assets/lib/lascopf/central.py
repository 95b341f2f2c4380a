"""Exact centralized LASCOPF: iterative contingency screening, or the extensive form.

Screening: solve with the flow-limit rows found so far, compute every base and
post-contingency flow with the LODFs, add the violated rows, repeat until none
is violated. At that point the solution is optimal for the extensive form
(all rows at once), which :func:`solve_lascopf` with ``method="extensive"`` builds.
Quadratic costs go to Clarabel, linear/piecewise-linear costs to HiGHS.
"""

from __future__ import annotations

import time

import cvxpy as cp
import numpy as np
import pandas as pd

from ..network.dc_model import DcModel, build_dc_model
from ..network.model import Network, NetworkDataError
from .contingency_set import ContingencySet, resolve_contingencies
from .formulation import BuiltProblem, LascopfData, RowSet, build_problem, make_data, row_limits
from ..solver_status import ERROR, INFEASIBLE, OPTIMAL, SolverOutcome, solve_cvxpy
from .result import LascopfResult

HISTORY_COLUMNS = [
    "iteration", "rows", "new_rows", "objective", "build_seconds", "solve_seconds", "compile_seconds", "solver_seconds",
]


def _timings(built: BuiltProblem) -> tuple[float, float]:
    """cvxpy's compilation time and the solver's own time of the last solve (NaN when unknown)."""
    compile_s = getattr(built.problem, "compilation_time", None)
    stats = getattr(built.problem, "solver_stats", None)
    solver_s = getattr(stats, "solve_time", None) if stats is not None else None
    return (float(compile_s) if compile_s is not None else np.nan, float(solver_s) if solver_s is not None else np.nan)


def default_solver(network: Network) -> str:
    return cp.CLARABEL if network.is_quadratic() else cp.HIGHS


def _as_loads(network: Network, loads_by_interval) -> np.ndarray:
    if loads_by_interval is None:
        return network.case_loads(1 if network.load_profile_mw is None else network.load_profile_mw.shape[1])
    if isinstance(loads_by_interval, pd.DataFrame):
        loads = loads_by_interval.reindex(network.bus["bus"].to_numpy()).fillna(0.0).to_numpy(float)
    else:
        loads = np.asarray(loads_by_interval, dtype=float)
    if loads.ndim == 1:
        loads = loads[:, None]
    if loads.shape[0] != network.n_bus:
        raise NetworkDataError(f"{network.name}: loads have {loads.shape[0]} rows for {network.n_bus} buses")
    if not np.all(np.isfinite(loads)):
        raise NetworkDataError(f"{network.name}: loads contain non-finite values")
    return loads


def flows_from_angles(model: DcModel, theta: np.ndarray) -> np.ndarray:
    return model.base_mva * (model.bf @ theta) + model.pfinj_mw[:, None]


def all_rows(data: LascopfData) -> RowSet:
    """Every finite base row and every post-contingency row (l != k, finite rating): the extensive form."""
    T = data.n_intervals
    base_l = np.flatnonzero(np.isfinite(data.base_lo) | np.isfinite(data.base_hi))
    mon = np.flatnonzero(np.isfinite(data.rate))
    nk = len(data.outaged)
    ll, kk = np.meshgrid(mon, np.arange(nk), indexing="ij")
    keep = ll != data.outaged[kk]
    ll, kk = ll[keep], kk[keep]
    rows_l = np.concatenate([base_l, ll])
    rows_k = np.concatenate([np.full(base_l.size, -1), kk])
    n = rows_l.size
    return RowSet(np.tile(rows_l, T), np.tile(rows_k, T), np.repeat(np.arange(T), n))


def violated_rows(
    data: LascopfData, flows: np.ndarray, tol_mw: float, per_branch: int | None = None, present: RowSet | None = None
) -> RowSet:
    """Base and post-contingency rows whose flow exceeds its limit by more than ``tol_mw`` (relative to max(1, limit)).

    ``per_branch``: keep only the ``per_branch`` worst outages per monitored branch and
    interval (screening adds the rest later if they are still violated); ``None`` = all.
    ``present``: rows already in the model, never returned (with soft limits they may
    stay violated, paid by their slack).
    """
    sens = data.contingencies.sensitivities
    mon = np.flatnonzero(np.isfinite(data.rate))
    lo, hi = data.base_lo, data.base_hi
    scale = np.minimum(np.abs(lo), np.abs(hi))
    tol_b = tol_mw * np.maximum(1.0, np.where(np.isfinite(scale), scale, 1.0))
    out_l, out_k, out_t = [], [], []
    lim = data.rate[mon][:, None]
    tol_c = tol_mw * np.maximum(1.0, lim)
    mon_pos = np.full(len(data.rate), -1)
    mon_pos[mon] = np.arange(mon.size)
    self_rows = mon_pos[sens.outaged]  # the outaged branch's own row in each column (-1 if unmonitored)
    self_cols = np.flatnonzero(self_rows >= 0)
    present = present if present is not None else RowSet.empty()
    present_base = np.zeros((len(data.rate), data.n_intervals), dtype=bool)
    present_base[present.l[present.k < 0], present.t[present.k < 0]] = True
    pc = present.k >= 0
    lodf_mon = data.monitored_lodf() if len(sens.outaged) and mon.size else None
    bound = (lim + tol_c).ravel()
    for t in range(data.n_intervals):  # one vectorized (branches x outages) block per interval
        f = flows[:, t]
        bad = np.flatnonzero(((f > hi + tol_b) | (f < lo - tol_b)) & ~present_base[:, t])
        out_l.append(bad)
        out_k.append(np.full(bad.size, -1))
        out_t.append(np.full(bad.size, t))
        if lodf_mon is None:
            continue
        excess = lodf_mon * f[sens.outaged][None, :]
        excess += f[mon][:, None]
        np.abs(excess, out=excess)
        excess -= bound[:, None]
        excess[self_rows[self_cols], self_cols] = -np.inf
        here = pc & (present.t == t)
        excess[mon_pos[present.l[here]], present.k[here]] = -np.inf
        hot = np.flatnonzero((excess > 0).any(axis=1))  # monitored rows with a violation
        if not hot.size:
            continue
        sub = excess[hot]
        if per_branch is not None and per_branch < sub.shape[1]:
            top = np.argpartition(-sub, per_branch - 1, axis=1)[:, :per_branch]
            keep = np.zeros_like(sub, dtype=bool)
            np.put_along_axis(keep, top, True, axis=1)
            over = keep & (sub > 0)
        else:
            over = sub > 0
        li, ki = np.nonzero(over)
        out_l.append(mon[hot[li]])
        out_k.append(ki)
        out_t.append(np.full(li.size, t))
    return RowSet(np.concatenate(out_l).astype(np.int64), np.concatenate(out_k).astype(np.int64), np.concatenate(out_t).astype(np.int64))


# Clarabel sometimes stops with "insufficient progress" on nearly redundant
# post-contingency rows; these settings are retried in order before giving up.
CLARABEL_FALLBACKS = (
    {"static_regularization_constant": 1e-7},
    {"max_step_fraction": 0.9},
    {"static_regularization_constant": 1e-6, "max_step_fraction": 0.9},
)


def _solve(built: BuiltProblem, solver: str, solver_options: dict | None) -> SolverOutcome:
    return solve_problem(built.problem, solver, solver_options)


def solve_problem(problem: cp.Problem, solver: str, solver_options: dict | None = None) -> SolverOutcome:
    """Solve with the Clarabel fallback ladder; the last attempt's outcome unless one is optimal or infeasible."""
    attempts = [dict(solver_options or {})]
    if solver == cp.CLARABEL:
        attempts += [{**(solver_options or {}), **fb} for fb in CLARABEL_FALLBACKS]
    outcome = SolverOutcome(ERROR, f"{solver}: not run")
    for opts in attempts:
        outcome = solve_cvxpy(problem, solver, **opts)
        if outcome.status in (OPTIMAL, INFEASIBLE):
            return outcome
    return outcome


def _objective(built: BuiltProblem) -> float:
    return float(built.problem.value) + built.objective_constant


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
) -> LascopfResult:
    """Solve the look-ahead preventive SCOPF exactly.

    ``loads_by_interval``: n_bus x T MW (array, or DataFrame indexed by bus id with
    one column per interval); default: the data's own profile or case loads.
    ``contingencies``: ``"marked" | "all" | "none"``, a contab path, a branch-name
    list, or a resolved :class:`ContingencySet`. ``method``: ``"screening"`` or
    ``"extensive"``. ``soft_limit_penalty``: $/MWh on post-contingency overloads
    (``None`` = hard limits). ``on_iteration``: called with each history row (a dict).
    ``rows_per_branch``: screening adds at most this many violated outages per monitored
    branch and interval per iteration (the worst ones; ``None`` = all violated rows).
    ``soft_slack``: ``"row"`` (default) one penalized slack per post-contingency row
    (branch, outage, interval); ``"branch"`` one per monitored branch and interval, shared
    by all its outages (the worst post-contingency overload is paid).
    """
    t0 = time.perf_counter()
    if method not in ("screening", "extensive"):
        raise ValueError(f"unknown method {method!r} (screening|extensive)")
    if soft_limit_penalty is not None and not soft_limit_penalty > 0:
        raise ValueError("soft_limit_penalty must be a positive number")
    loads = _as_loads(network, loads_by_interval)
    model = build_dc_model(network)
    cset = contingencies if isinstance(contingencies, ContingencySet) else resolve_contingencies(model, contingencies)
    data = make_data(model, loads, cset, soft_limit_penalty, soft_slack)
    solver = solver or default_solver(network)
    nk, T = len(cset.modeled), data.n_intervals

    history = []
    rows = all_rows(data) if method == "extensive" else RowSet.empty()
    outcome, built = SolverOutcome(ERROR, "not run"), None
    for it in range(1, max_iterations + 1):
        tb = time.perf_counter()
        built = build_problem(data, rows)
        ts = time.perf_counter()
        outcome = _solve(built, solver, solver_options)
        te = time.perf_counter()
        if not outcome.ok:
            history.append((it, len(rows), 0, np.nan, ts - tb, te - ts, *_timings(built)))
            break
        flows = flows_from_angles(model, built.theta.value)
        new = violated_rows(data, flows, tol_mw, rows_per_branch, rows) if method == "screening" else RowSet.empty()
        history.append((it, len(rows), len(new), _objective(built), ts - tb, te - ts, *_timings(built)))
        if on_iteration is not None:
            on_iteration(dict(zip(HISTORY_COLUMNS, history[-1])))
        if not len(new):
            break
        rows = rows.extend(new)
    else:
        outcome = SolverOutcome(
            ERROR, f"screening stopped at its iteration limit ({max_iterations}) with {len(new)} violated rows left"
        )
    hist = pd.DataFrame(history, columns=HISTORY_COLUMNS)
    result = LascopfResult(
        status=outcome.status,
        reason=outcome.reason,
        objective=None,
        method=method,
        solve_seconds=0.0,
        iterations=len(history),
        intervals=T,
        contingencies_modeled=cset.modeled,
        contingencies_skipped=cset.skipped,
        history=hist,
    )
    if result.status == "optimal":
        _fill_tables(result, data, built, rows)
    elif result.status == "infeasible" and diagnose:
        result.cause = diagnose_infeasibility(data, rows, solver, solver_options)
    result.solve_seconds = time.perf_counter() - t0
    return result


def _fill_tables(result: LascopfResult, data: LascopfData, built: BuiltProblem, rows: RowSet, objective: float | None = None) -> None:
    model = data.model
    net = model.network
    T = data.n_intervals
    intervals = np.arange(1, T + 1)
    p = built.p.value
    theta = built.theta.value
    flows = flows_from_angles(model, theta)
    result.objective = _objective(built) if objective is None else objective
    gen = net.gen
    result.generator_dispatch = pd.DataFrame(
        {
            "gen": np.repeat(gen["gen"].to_numpy(), T),
            "bus": np.repeat(gen["bus"].to_numpy(), T),
            "interval": np.tile(intervals, net.n_gen),
            "p_mw": p.ravel(),
        }
    )
    # LMP: the marginal cost of one more MW of load at a bus = -dual of the balance row
    lmp = -np.asarray(built.balance.dual_value, dtype=float).reshape(net.n_bus, T)
    result.lmps = pd.DataFrame(
        {"bus": np.repeat(net.bus["bus"].to_numpy(), T), "interval": np.tile(intervals, net.n_bus), "lmp": lmp.ravel()}
    )
    br = net.branch
    rate = data.rate
    with np.errstate(divide="ignore", invalid="ignore"):
        loading = np.abs(flows) / rate[:, None]
    sens = data.contingencies.sensitivities
    worst_flow = np.full(flows.shape, np.nan)
    worst_out = np.full(flows.shape, "", dtype=object)
    post_loading = np.full(flows.shape, np.nan)
    if len(sens.outaged):
        names = br["branch"].to_numpy()
        for t in range(T):  # one (branches x outages) block per interval
            post = sens.post_contingency_flows(flows[:, t])
            post[sens.outaged, np.arange(len(sens.outaged))] = 0.0
            j = np.argmax(np.abs(post), axis=1)
            worst_flow[:, t] = post[np.arange(len(post)), j]
            worst_out[:, t] = names[sens.outaged[j]]
            with np.errstate(divide="ignore", invalid="ignore"):
                post_loading[:, t] = np.abs(worst_flow[:, t]) / rate
    nl = net.n_branch
    result.branch_flows = pd.DataFrame(
        {
            "branch": np.repeat(br["branch"].to_numpy(), T),
            "from_bus": np.repeat(br["from_bus"].to_numpy(), T),
            "to_bus": np.repeat(br["to_bus"].to_numpy(), T),
            "interval": np.tile(intervals, nl),
            "flow_mw": flows.ravel(),
            "rate_mw": np.repeat(rate, T),
            "loading": loading.ravel(),
            "worst_post_flow_mw": worst_flow.ravel(),
            "worst_outage": worst_out.ravel(),
            "post_loading": post_loading.ravel(),
        }
    )
    finite = np.isfinite(rate)
    result.max_base_loading = float(loading[finite].max()) if finite.any() else None
    result.max_post_contingency_loading = (
        float(np.nanmax(post_loading[finite])) if finite.any() and len(sens.outaged) else None
    )
    result.binding_contingencies = _binding_rows(data, built, rows, flows)
    if built.slack is not None:
        result.total_slack_mw = float(np.sum(built.slack.value))


def _binding_rows(data: LascopfData, built: BuiltProblem, rows: RowSet, flows: np.ndarray) -> pd.DataFrame:
    cols = ["interval", "outaged_branch", "monitored_branch", "post_flow_mw", "limit_mw", "shadow_price", "slack_mw"]
    if not len(rows):
        return pd.DataFrame(columns=cols)
    price = np.zeros(len(rows))
    if built.upper is not None:
        price[built.upper_rows] += np.abs(np.asarray(built.upper.dual_value).ravel())
    if built.lower is not None:
        price[built.lower_rows] += np.abs(np.asarray(built.lower.dual_value).ravel())
    slack = np.zeros(len(rows))
    if built.slack is not None:
        has = built.slack_of_row >= 0
        slack[has] = np.asarray(built.slack.value).ravel()[built.slack_of_row[has]]
    cont = rows.k >= 0
    sens = data.contingencies.sensitivities
    post = flows[rows.l, rows.t].copy()
    post[cont] += sens.lodf[rows.l[cont], rows.k[cont]] * flows[sens.outaged[rows.k[cont]], rows.t[cont]]
    lo, hi = row_limits(data, rows)
    at_limit = (post >= hi - 1e-6 * np.maximum(1, np.abs(hi))) | (post <= lo + 1e-6 * np.maximum(1, np.abs(lo)))
    sel = cont & ((price > 1e-6) | at_limit | (slack > 1e-6))
    names = data.model.network.branch["branch"].to_numpy()
    lim = np.where(post[sel] >= 0, hi[sel], lo[sel])
    return pd.DataFrame(
        {
            "interval": rows.t[sel] + 1,
            "outaged_branch": names[sens.outaged[rows.k[sel]]],
            "monitored_branch": names[rows.l[sel]],
            "post_flow_mw": post[sel],
            "limit_mw": lim,
            "shadow_price": price[sel],
            "slack_mw": slack[sel],
        }
    ).sort_values(["interval", "outaged_branch", "monitored_branch"], ignore_index=True)


def _feasible(data: LascopfData, rows: RowSet, solver, solver_options) -> bool:
    return _solve(build_problem(data, rows), solver, solver_options).ok


def diagnose_infeasibility(data: LascopfData, rows: RowSet, solver, solver_options, max_checks: int = 20) -> str:
    """Name the constraint family that makes the problem infeasible (generation/ramp, base flows, or which outages)."""
    net = data.model.network
    gen = net.gen
    no_cont = LascopfData(data.model, data.loads_mw, data.contingencies, None, data.base_lo, data.base_hi, data.rate)
    if not _feasible(no_cont, RowSet.empty(), solver, solver_options):
        pmin, pmax = gen["pmin_mw"].to_numpy(float), gen["pmax_mw"].to_numpy(float)
        prev = gen["p_prev_mw"].to_numpy(float)
        lo1 = np.where(np.isfinite(prev), np.maximum(pmin, prev - gen["ramp_down_mw"].to_numpy(float)), pmin)
        hi1 = np.where(np.isfinite(prev), np.minimum(pmax, prev + gen["ramp_up_mw"].to_numpy(float)), pmax)
        demand = data.loads_mw.sum(axis=0) + data.model.gs_mw.sum()
        has_prev = bool(np.isfinite(prev).any())
        if has_prev and (demand[0] > hi1.sum() + 1e-9 or demand[0] < lo1.sum() - 1e-9):
            return (
                f"interval 1: demand {demand[0]:.2f} MW outside the {lo1.sum():.2f}..{hi1.sum():.2f} MW "
                "reachable from PgPrev within the ramp limits"
            )
        bad = np.flatnonzero((demand > pmax.sum() + 1e-9) | (demand < pmin.sum() - 1e-9))
        if bad.size:
            return f"interval {bad[0] + 1}: demand {demand[bad[0]]:.2f} MW outside generation limits {pmin.sum():.2f}..{pmax.sum():.2f} MW"
        return "generation and ramp limits cannot follow the load between intervals"
    base_rows = all_rows(LascopfData(data.model, data.loads_mw, _no_outages(data.contingencies), None, data.base_lo, data.base_hi, data.rate))
    if not _feasible(no_cont, base_rows, solver, solver_options):
        return "base-case flow limits cannot be met (with the generation and ramp limits)"
    outages = np.unique(rows.k[rows.k >= 0])[:max_checks]
    names = net.branch["branch"].to_numpy()[data.outaged]
    culprits = []
    full = all_rows(data)
    for k in outages:  # a handful of single-outage feasibility checks
        sel = (full.k == -1) | (full.k == k)
        one = RowSet(full.l[sel], full.k[sel], full.t[sel])
        if not _feasible(data, one, solver, solver_options):
            culprits.append(names[k])
    if culprits:
        return f"preventive N-1 limits cannot be met under the outage of {', '.join(culprits)}"
    return "preventive N-1 limits cannot be met by any dispatch (several outages together)"


def _no_outages(cset: ContingencySet) -> ContingencySet:
    from ..network.sensitivities import OutageSensitivities

    sens = OutageSensitivities(np.zeros(0, dtype=int), np.zeros((cset.sensitivities.lodf.shape[0], 0)), cset.sensitivities.skipped)
    return ContingencySet(sens, [], cset.skipped)
