"""Reading a solved LASCOPF back into a :class:`LascopfResult`: the primal solution, then the duals.

:func:`assign_solution`: generator dispatch, base and worst post-contingency branch
flows and loadings, total slack. :func:`assign_duals`: LMPs (from the power
balance) and the binding contingencies (with the flow-limit rows' shadow prices).
:func:`assign_corrective` (corrective security): the trajectories of the outages
that need one, their flows, the largest emergency loading and the corrective MW.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data import LascopfData, flows_from_angles
from .endpoint import flows_at_outage, start_dispatch, straight_lines
from .formulation import BuiltProblem, row_limits
from .result import LascopfResult
from .rows import RowSet, Trajectories, outage_flows

CORRECTIVE_DISPATCH_COLUMNS = ["outaged_branch", "outage_kind", "interval", "step", "minutes", "gen", "bus", "p_mw", "corrective_mw"]
TRAJECTORY_FLOW_COLUMNS = [
    "outaged_branch", "outage_kind", "interval", "monitored_branch", "step", "minutes", "flow_mw", "rate_mw", "emergency_mw", "limit_mw",
    "loading",
]
NEEDS_CORRECTION_TOL = 1e-6  # MW relative to max(1, rateA), as the screening's default tolerance

BINDING_COLUMNS = ["interval", "outaged_branch", "outage_kind", "monitored_branch", "post_flow_mw", "limit_mw", "shadow_price", "slack_mw"]


def fill_tables(result: LascopfResult, data: LascopfData, built: BuiltProblem, rows: RowSet, objective: float | None = None) -> None:
    """Objective (``built``'s own unless given), solution and dual tables of an optimal solve."""
    flows = flows_from_angles(data.model, built.theta.value)
    result.objective = built.objective_value() if objective is None else objective
    assign_solution(result, data, built, flows)
    assign_duals(result, data, built, rows, flows)
    if data.corrective is not None:
        assign_corrective(result, data, built, flows)


def _by_interval(names: np.ndarray, intervals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row keys of an (element x interval) table in row-major order: each name repeated, the intervals tiled."""
    return np.repeat(names, len(intervals)), np.tile(intervals, len(names))


def assign_solution(result: LascopfResult, data: LascopfData, built: BuiltProblem, flows: np.ndarray) -> None:
    """``generator_dispatch``, ``branch_flows``, the largest loadings and the total slack."""
    net = data.model.network
    intervals = np.arange(1, data.n_intervals + 1)
    gen = net.gen
    gen_names, gen_intervals = _by_interval(gen["gen"].to_numpy(), intervals)
    result.generator_dispatch = pd.DataFrame(
        {
            "gen": gen_names,
            "bus": np.repeat(gen["bus"].to_numpy(), data.n_intervals),
            "interval": gen_intervals,
            "p_mw": built.p.value.ravel(),
        }
    )
    assign_branch_flows(result, data, flows, np.asarray(built.p.value))
    if built.slack is not None:
        result.total_slack_mw = float(np.sum(built.slack.value))


def worst_post_contingency_flows(
    data: LascopfData, flows: np.ndarray, dispatch: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per branch and interval: the post-contingency flow of largest magnitude over the modeled outages, and that outage's name.

    NaN and ``""`` without modeled outages; a branch's own outage does not count. Generator outages
    (``F + D P[g, t]``, :mod:`.generator_outages`) need the ``dispatch`` and are named by the generator.
    """
    sensitivities = data.contingencies.sensitivities
    worst_flow = np.full(flows.shape, np.nan)
    worst_outage = np.full(flows.shape, "", dtype=object)
    if data.n_outages:
        names = data.outage_names()
        go = data.gen_outages
        for t in range(data.n_intervals):  # one (branches x outages) block per interval
            post = sensitivities.post_contingency_flows(flows[:, t])
            post[sensitivities.outaged, np.arange(len(sensitivities.outaged))] = 0.0
            if data.n_gen_outages:
                post = np.hstack([post, flows[:, t][:, None] + go.factors * dispatch[go.gen, t][None, :]])
            worst = np.argmax(np.abs(post), axis=1)
            worst_flow[:, t] = post[np.arange(len(post)), worst]
            worst_outage[:, t] = names[worst]
    return worst_flow, worst_outage


def assign_branch_flows(result: LascopfResult, data: LascopfData, flows: np.ndarray, dispatch: np.ndarray | None = None) -> None:
    """``branch_flows`` with base and worst post-contingency loadings, and their maxima over the rated branches."""
    branch = data.model.network.branch
    intervals = np.arange(1, data.n_intervals + 1)
    rate = data.rate
    with np.errstate(divide="ignore", invalid="ignore"):
        loading = np.abs(flows) / rate[:, None]
    has_outages = data.n_outages > 0
    worst_flow, worst_outage = worst_post_contingency_flows(data, flows, dispatch)
    post_loading = np.full(flows.shape, np.nan)
    if has_outages:
        with np.errstate(divide="ignore", invalid="ignore"):
            post_loading = np.abs(worst_flow) / rate[:, None]
    branch_names, branch_intervals = _by_interval(branch["branch"].to_numpy(), intervals)
    result.branch_flows = pd.DataFrame(
        {
            "branch": branch_names,
            "from_bus": np.repeat(branch["from_bus"].to_numpy(), data.n_intervals),
            "to_bus": np.repeat(branch["to_bus"].to_numpy(), data.n_intervals),
            "interval": branch_intervals,
            "flow_mw": flows.ravel(),
            "rate_mw": np.repeat(rate, data.n_intervals),
            "loading": loading.ravel(),
            "worst_post_flow_mw": worst_flow.ravel(),
            "worst_outage": worst_outage.ravel(),
            "post_loading": post_loading.ravel(),
        }
    )
    rated = np.isfinite(rate)
    result.max_base_loading = float(loading[rated].max()) if rated.any() else None
    result.max_post_contingency_loading = float(np.nanmax(post_loading[rated])) if rated.any() and has_outages else None


def assign_duals(result: LascopfResult, data: LascopfData, built: BuiltProblem, rows: RowSet, flows: np.ndarray) -> None:
    """``lmps`` and ``binding_contingencies``."""
    net = data.model.network
    # LMP: the marginal cost of one more MW of load at a bus = -dual of the balance row
    lmp = -np.asarray(built.balance.dual_value, dtype=float).reshape(net.n_bus, data.n_intervals)
    buses, bus_intervals = _by_interval(net.bus["bus"].to_numpy(), np.arange(1, data.n_intervals + 1))
    result.lmps = pd.DataFrame({"bus": buses, "interval": bus_intervals, "lmp": lmp.ravel()})
    result.binding_contingencies = binding_contingencies(data, built, rows, flows)


def row_shadow_prices(built: BuiltProblem, n_rows: int) -> np.ndarray:
    """Per flow-limit row: the magnitude of its upper plus lower constraint's dual ($/MWh)."""
    price = np.zeros(n_rows)
    if built.upper is not None:
        price[built.upper_rows] += np.abs(np.asarray(built.upper.dual_value).ravel())
    if built.lower is not None:
        price[built.lower_rows] += np.abs(np.asarray(built.lower.dual_value).ravel())
    return price


def row_slacks(built: BuiltProblem, n_rows: int) -> np.ndarray:
    """Per flow-limit row: the value of its soft-limit slack (MW; 0 for hard rows)."""
    slack = np.zeros(n_rows)
    if built.slack is not None:
        has = built.slack_of_row >= 0
        slack[has] = np.asarray(built.slack.value).ravel()[built.slack_of_row[has]]
    return slack


def binding_contingencies(data: LascopfData, built: BuiltProblem, rows: RowSet, flows: np.ndarray) -> pd.DataFrame:
    """Post-contingency rows with a shadow price, at their limit, or relaxed by a slack; sorted by interval and names."""
    if not len(rows):
        return pd.DataFrame(columns=BINDING_COLUMNS)
    price = row_shadow_prices(built, len(rows))
    slack = row_slacks(built, len(rows))
    cont = rows.k >= 0
    sensitivities = data.contingencies.sensitivities
    K = data.n_branch_outages
    post = flows[rows.l, rows.t].copy()
    lost_branch = cont & (rows.k < K)
    post[lost_branch] += sensitivities.lodf[rows.l[lost_branch], rows.k[lost_branch]] * flows[
        sensitivities.outaged[rows.k[lost_branch]], rows.t[lost_branch]]
    lost_gen = rows.k >= K
    if lost_gen.any():
        go, p = data.gen_outages, np.asarray(built.p.value)
        j = rows.k[lost_gen] - K
        post[lost_gen] += go.factors[rows.l[lost_gen], j] * p[go.gen[j], rows.t[lost_gen]]
    lo, hi = row_limits(data, rows)
    at_limit = (post >= hi - 1e-6 * np.maximum(1, np.abs(hi))) | (post <= lo + 1e-6 * np.maximum(1, np.abs(lo)))
    sel = cont & ((price > 1e-6) | at_limit | (slack > 1e-6))
    names = data.model.network.branch["branch"].to_numpy()
    limit = np.where(post[sel] >= 0, hi[sel], lo[sel])
    return pd.DataFrame(
        {
            "interval": rows.t[sel] + 1,
            "outaged_branch": data.outage_names()[rows.k[sel]],
            "outage_kind": data.outage_kinds()[rows.k[sel]],
            "monitored_branch": names[rows.l[sel]],
            "post_flow_mw": post[sel],
            "limit_mw": limit,
            "shadow_price": price[sel],
            "slack_mw": slack[sel],
        }
    ).sort_values(["interval", "outaged_branch", "monitored_branch"], ignore_index=True)


def held_pairs_to_correct(data: LascopfData, p: np.ndarray, held: list[Trajectories]) -> Trajectories:
    """The held pairs whose flows at the outage exceed ``rateA`` (beyond :data:`NEEDS_CORRECTION_TOL`): those a trajectory
    corrects (:func:`.rows.pairs_to_correct` restricted to the pairs with a trajectory, from the shift factors)."""
    pair_k = np.concatenate([h.pair_k for h in held]) if held else np.zeros(0, np.int64)
    pair_t = np.concatenate([h.pair_t for h in held]) if held else np.zeros(0, np.int64)
    monitored = data.monitored_branches()
    rate = data.rate[monitored]
    bound = rate + NEEDS_CORRECTION_TOL * np.maximum(1.0, rate)
    keep = np.zeros(pair_k.size, dtype=bool)
    for start in range(0, pair_k.size, 1024):
        cols = np.arange(start, min(start + 1024, pair_k.size))
        at_outage, not_self = flows_at_outage(data, p, pair_k[cols], pair_t[cols], monitored)
        keep[cols] = ((np.abs(at_outage) > bound[:, None]) & not_self).any(axis=0)
    return Trajectories.of_pairs(pair_k[keep], pair_t[keep])


def assign_corrective(result: LascopfResult, data: LascopfData, built: BuiltProblem, flows: np.ndarray) -> None:
    """``corrective_dispatch``, ``trajectory_flows``, ``max_emergency_loading`` and ``corrective_mw_total``.

    The tables cover the (outage, interval) pairs whose flows at the outage exceed ``rateA``: the
    ones a trajectory must correct (any other pair's rows are met by ``Q = P[:, t]``, and the
    screened form holds no trajectory for it).
    """
    cd, N = data.corrective, data.corrective.steps
    net = data.model.network
    names = net.branch["branch"].to_numpy()
    p = np.asarray(built.p.value)
    if len(result.branch_flows) == data.rate.size * data.n_intervals:  # assign_solution's, for the same dispatch
        worst_flow = result.branch_flows["worst_post_flow_mw"].to_numpy(float).reshape(data.rate.size, data.n_intervals)
    else:
        worst_flow, _ = worst_post_contingency_flows(data, flows, p)
    rated = np.isfinite(data.rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        emergency_loading = np.abs(worst_flow[rated]) / cd.emergency[rated][:, None]
    result.max_emergency_loading = float(np.nanmax(emergency_loading)) if emergency_loading.size and data.n_outages else None
    result.corrective_dispatch = pd.DataFrame(columns=CORRECTIVE_DISPATCH_COLUMNS)
    result.trajectory_flows = pd.DataFrame(columns=TRAJECTORY_FLOW_COLUMNS)
    result.corrective_mw_total = 0.0
    full, ends = built.corrective, built.endpoint  # endpoint form: the pairs with Q_N only (their steps: the straight line)
    if ends is not None and ends.q is None:
        ends = None
    if full.q is None and ends is None:
        return
    needed = held_pairs_to_correct(data, p, [x.trajectories for x in (full, ends) if x is not None and x.q is not None])
    if not needed.n_pairs:
        return
    K, T = data.n_outages, data.n_intervals
    key = needed.pair_k * T + needed.pair_t
    position = full.trajectories.pair_lookup(K, T)[key] if full.q is not None else np.full(key.size, -1)
    end_position = ends.trajectories.pair_lookup(K, T)[key] if ends is not None else np.full(key.size, -1)
    order = np.lexsort((needed.pair_k, needed.pair_t))  # by interval, then outage
    order = order[(position[order] >= 0) | (end_position[order] >= 0)]  # (a looser tolerance may leave a marginal pair without one)
    position, end_position = position[order], end_position[order]
    pair_k, pair_t = needed.pair_k[order], needed.pair_t[order]
    n_gen, n_pairs = net.n_gen, position.size
    # trajectory[g, j, s]: step 0 = P[:, t] (a generator outage: the response P'), steps 1..N = Q
    start = start_dispatch(data, p, pair_k, pair_t)
    along_q = np.empty((n_gen, n_pairs, N))
    has_full = np.flatnonzero(position >= 0)
    if has_full.size:
        columns = position[has_full][:, None] * N + np.arange(N)[None, :]
        along_q[:, has_full] = full.values(data).columns(columns.ravel()).reshape(n_gen, has_full.size, N)
    on_line = np.flatnonzero(position < 0)
    if on_line.size:
        q_end = ends.values(data).columns(end_position[on_line])
        along_q[:, on_line] = straight_lines(data, p, pair_k[on_line], pair_t[on_line], q_end)
    trajectory = np.concatenate([start[:, :, None], along_q], axis=2)
    lost_gen = np.flatnonzero(pair_k >= data.n_branch_outages)
    result.corrective_mw_total = float(np.abs(np.diff(trajectory, axis=2)).sum())
    steps = np.arange(N + 1)
    minutes = steps * cd.settings.restore_minutes
    outaged_names, outage_kinds = data.outage_names()[pair_k], data.outage_kinds()[pair_k]
    result.corrective_dispatch = pd.DataFrame(
        {
            "outaged_branch": np.repeat(outaged_names, (N + 1) * n_gen),
            "outage_kind": np.repeat(outage_kinds, (N + 1) * n_gen),
            "interval": np.repeat(pair_t + 1, (N + 1) * n_gen),
            "step": np.tile(np.repeat(steps, n_gen), n_pairs),
            "minutes": np.tile(np.repeat(minutes, n_gen), n_pairs),
            "gen": np.tile(net.gen["gen"].to_numpy(), n_pairs * (N + 1)),
            "bus": np.tile(net.gen["bus"].to_numpy(), n_pairs * (N + 1)),
            "p_mw": trajectory.transpose(1, 2, 0).ravel(),
            "corrective_mw": (trajectory - trajectory[:, :, :1]).transpose(1, 2, 0).ravel(),
        }
    )
    monitored = data.monitored_branches()
    at_outage = np.empty((monitored.size, n_pairs))
    lost_branch = np.flatnonzero(pair_k < data.n_branch_outages)
    kb, tb = pair_k[lost_branch], pair_t[lost_branch]
    at_outage[:, lost_branch] = flows[monitored][:, tb] + data.lodf[monitored][:, kb] * flows[data.outaged[kb], tb][None, :]
    if lost_gen.size:
        j, tg = pair_k[lost_gen] - data.n_branch_outages, pair_t[lost_gen]
        go = data.gen_outages
        at_outage[:, lost_gen] = flows[monitored][:, tg] + go.factors[monitored][:, j] * p[go.gen[j], tg][None, :]
    along = outage_flows(data, along_q.reshape(n_gen, n_pairs * N), np.repeat(pair_k, N), np.repeat(pair_t, N),
                         monitored).reshape(monitored.size, n_pairs, N)
    path = np.concatenate([at_outage[:, :, None], along], axis=2)  # monitored x pairs x steps 0..N
    rate = data.rate[monitored]
    above = (np.abs(path) >= rate[:, None, None] * (1 - 1e-6)).any(axis=2)
    above &= monitored[:, None] != data.outage_branch(pair_k)[None, :]
    branch_i, pair_i = np.nonzero(above)
    order = np.lexsort((branch_i, pair_i))
    branch_i, pair_i = branch_i[order], pair_i[order]
    limit = np.where(steps[None, :] < N, cd.emergency[monitored[branch_i]][:, None], rate[branch_i][:, None])
    flow = path[branch_i, pair_i]  # rows x steps
    result.trajectory_flows = pd.DataFrame(
        {
            "outaged_branch": np.repeat(outaged_names[pair_i], N + 1),
            "outage_kind": np.repeat(outage_kinds[pair_i], N + 1),
            "interval": np.repeat(pair_t[pair_i] + 1, N + 1),
            "monitored_branch": np.repeat(names[monitored[branch_i]], N + 1),
            "step": np.tile(steps, branch_i.size),
            "minutes": np.tile(minutes, branch_i.size),
            "flow_mw": flow.ravel(),
            "rate_mw": np.repeat(rate[branch_i], N + 1),
            "emergency_mw": np.repeat(cd.emergency[monitored[branch_i]], N + 1),
            "limit_mw": limit.ravel(),
            "loading": (np.abs(flow) / rate[branch_i][:, None]).ravel(),
        }
    )
