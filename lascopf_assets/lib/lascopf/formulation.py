"""The LASCOPF as a cvxpy problem over a chosen set of flow-limit rows.

Variables ``P`` (n_gen x T, MW) and ``theta`` (n_bus x T, rad), one function per
constraint family (each with its maths):

- :func:`define_generator_limits`: ``Pmin <= P <= Pmax``
- :func:`define_ramp_limits`: between intervals and from ``PgPrev`` into the first one
- :func:`define_reference_angle`: ``theta_ref = 0``
- :func:`define_power_balance`: per bus and interval; its dual is the LMP
- :func:`define_generation_cost`: polynomial and piecewise-linear costs
- :func:`define_soft_limit_slacks`: optional penalized slacks on post-contingency rows (corrective:
  also on the trajectory flow rows; base rows, balance, unit and ramp limits stay hard)
- :func:`define_flow_limits`: one row per selected triple ``(l, k, t)``, with the limits of
  :func:`base_flow_limits` (``k = -1``) or :func:`post_contingency_flow_limits`; a generator
  outage's row ``F[l, t] + D[l, j] P[g_j, t]`` (:mod:`.generator_outages`) involves ``P`` too
- :func:`define_generator_response_limits`: after generator ``g_j`` is lost, every responding unit
  ``Pmin[h] <= P[h, t] + alpha[j, h] P[g_j, t] <= Pmax[h]`` (the rows of :class:`.rows.ResponseRows`)
- :func:`define_objective`

Corrective security (``data.corrective``; :mod:`.corrective`) adds, over the
trajectories of :class:`.rows.Trajectories` (variables ``Q``, n_gen x pairs*N):

- :func:`define_corrective_generator_limits`: ``Pmin <= Q <= Pmax`` (a lost generator's ``Q`` is 0)
- :func:`define_corrective_ramp_limits`: ``-RD f <= Q[s] - Q[s-1] <= RU f``, ``Q[0] = P[:, t]``
  (generator outage ``j``: ``Q[0] = P'``, ``P'[h] = P[h, t] + alpha[j, h] P[g_j, t]``, ``P'[g_j] = 0``)
- :func:`define_corrective_balance`: ``sum_g Q[g, k, t, s] = demand[t]``
- :func:`define_trajectory_flow_limits`: flows under outage ``k`` within ``E`` (s < N), ``rateA`` (s = N),
  relaxed by the soft-limit slacks when there are any
- :func:`define_corrective_movement_cost`: ``corrective_cost sum |Q[s] - Q[s-1]|`` (linearized)

and the post-contingency rows of :func:`define_flow_limits` then hold the flows at
the moment of the outage within the emergency rating (:func:`post_contingency_flow_limits`).

:func:`build_problem` calls them in this order. Solving is :mod:`.solve`; reading
the solution and the duals back is :mod:`.solution`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from .data import LascopfData
from .rows import ResponseRows, RowSet, Trajectories, TrajectoryValues, lost_units, trajectory_row_limits


@dataclass
class BuiltProblem:
    problem: cp.Problem
    p: cp.Variable
    theta: cp.Variable
    balance: cp.Constraint
    upper: cp.Constraint | None
    lower: cp.Constraint | None
    upper_rows: np.ndarray  # positions in the RowSet of the upper constraint's rows
    lower_rows: np.ndarray
    slack: cp.Variable | None
    slack_of_row: np.ndarray  # per RowSet row: index into ``slack`` (-1: hard row)
    objective_constant: float
    corrective: BuiltCorrective | None = None  # the trajectories' variables and rows (corrective security)
    endpoint: BuiltCorrective | None = None  # endpoint form: the pairs that only have Q_N (:mod:`.endpoint`)
    slack_branch_keys: np.ndarray | None = None  # soft_slack "branch": the key l * T + t of each slack (sorted)

    def objective_value(self) -> float:
        """The solved objective, with the constant cost terms cvxpy does not see."""
        return float(self.problem.value) + self.objective_constant


@dataclass
class BuiltCorrective:
    trajectories: Trajectories
    q: cp.Variable | None  # n_gen x (pairs * N), column pair * N + (s - 1); None without pairs
    balance: cp.Constraint | None
    upper: cp.Constraint | None  # trajectory flow rows (positions in ``trajectories``: upper_rows)
    lower: cp.Constraint | None
    upper_rows: np.ndarray
    lower_rows: np.ndarray
    slack_of_row: np.ndarray | None = None  # per trajectory row: index into BuiltProblem.slack (-1: hard row)
    units: np.ndarray | None = None  # the units with Q variables (rows of ``q``); the others hold Pmin
    steps: int = 1  # columns per pair (N; 1 in the endpoint set)

    def values(self, data: LascopfData) -> TrajectoryValues:
        """The solved trajectory dispatch of every unit (``data``: the one this set was built with)."""
        gen = data.model.network.gen
        return TrajectoryValues(np.asarray(self.q.value), self.units, gen["pmin_mw"].to_numpy(float),
                                lost_units(data, self.trajectories.pair_k), self.steps)


def build_problem(
    data: LascopfData, rows: RowSet, trajectories: Trajectories | None = None, response: ResponseRows | None = None,
    endpoints: Trajectories | None = None, endpoint_data: LascopfData | None = None,
) -> BuiltProblem:
    """The LASCOPF with the flow-limit ``rows``, the generator outages' ``response`` rows (and, corrective, the
    ``trajectories``; the endpoint form's ``endpoints``, built with ``endpoint_data``, :func:`.endpoint.endpoint_data`);
    the constraint families in a fixed order."""
    p, theta = define_dispatch_variables(data)
    constraints = [*define_generator_limits(data, p), *define_ramp_limits(data, p), define_reference_angle(data, theta)]
    balance = define_power_balance(data, p, theta)
    constraints.append(balance)
    cost = define_generation_cost(data, p)
    constraints += cost.constraints
    if data.corrective is not None and trajectories is None:
        trajectories = Trajectories.empty()
    if endpoints is not None and endpoint_data is None:
        raise ValueError("endpoint trajectories need the endpoint data")
    slacks = define_soft_limit_slacks(data, rows, trajectories, endpoints, endpoint_data)
    flow_limits = define_flow_limits(data, rows, theta, slacks, p)
    constraints += flow_limits.constraints
    constraints += define_generator_response_limits(data, ResponseRows.empty() if response is None else response, p)
    corrective = endpoint = None
    extra_terms: list = []
    if data.corrective is not None:
        corrective = _build_trajectories(
            data, trajectories, p, slacks.variable, slacks.trajectory_matrix, slacks.slack_of_trajectory_row,
            constraints, extra_terms,
        )
        if endpoints is not None:
            endpoint = _build_trajectories(
                endpoint_data, endpoints, p, slacks.variable, slacks.endpoint_matrix, slacks.slack_of_endpoint_row,
                constraints, extra_terms,
            )
    objective = define_objective(data, cost, slacks, extra_terms)
    return BuiltProblem(
        cp.Problem(objective, constraints), p, theta, balance, flow_limits.upper, flow_limits.lower,
        flow_limits.upper_rows, flow_limits.lower_rows, slacks.variable, slacks.slack_of_row, cost.constant, corrective,
        endpoint, slacks.branch_keys,
    )


def _build_trajectories(data, trajectories, p, slack_variable, slack_matrix, slack_of_row, constraints, extra_terms):
    """One set of trajectories (variables, unit, ramp, balance and flow rows, movement cost), appended to ``constraints``."""
    units = trajectory_units(data)
    q = define_corrective_variables(data, trajectories, units)
    built = BuiltCorrective(
        trajectories, q, None, None, None, np.zeros(0, int), np.zeros(0, int), slack_of_row, units, data.corrective.steps
    )
    if q is None:
        return built
    steps = corrective_steps(data, trajectories, p, q, units)
    constraints += define_corrective_generator_limits(data, trajectories, q, units)
    constraints += define_corrective_ramp_limits(data, steps, units)
    built.balance = define_corrective_balance(data, trajectories, q, units)
    constraints.append(built.balance)
    limits = define_trajectory_flow_limits(data, trajectories, q, slack_variable, slack_matrix, units)
    constraints += limits.constraints
    built.upper, built.lower = limits.upper, limits.lower
    built.upper_rows, built.lower_rows = limits.upper_rows, limits.lower_rows
    movement_terms, movement_constraints = define_corrective_movement_cost(data, steps)
    extra_terms += movement_terms
    constraints += movement_constraints
    return built


def define_dispatch_variables(data: LascopfData) -> tuple[cp.Variable, cp.Variable]:
    """``P`` (n_gen x T, MW) and ``theta`` (n_bus x T, rad)."""
    net = data.model.network
    T = data.n_intervals
    return cp.Variable((net.n_gen, T), name="P"), cp.Variable((net.n_bus, T), name="theta")


def define_generator_limits(data: LascopfData, p: cp.Variable) -> list[cp.Constraint]:
    """``Pmin[g] <= P[g, t] <= Pmax[g]`` for every generator and interval."""
    gen = data.model.network.gen
    T = data.n_intervals
    pmin = gen["pmin_mw"].to_numpy(float)
    pmax = gen["pmax_mw"].to_numpy(float)
    return [p >= np.repeat(pmin[:, None], T, 1), p <= np.repeat(pmax[:, None], T, 1)]


def define_ramp_limits(data: LascopfData, p: cp.Variable) -> list[cp.Constraint]:
    """``-RampDown[g] <= P[g, t] - P[g, t-1] <= RampUp[g]`` for t >= 2, and for t = 1 with ``P[g, 0] = PgPrev[g]``.

    Only generators with a finite ramp limit get the rows; the first interval only
    where ``PgPrev`` is known.
    """
    gen = data.model.network.gen
    T = data.n_intervals
    ramp_up = gen["ramp_up_mw"].to_numpy(float)
    ramp_down = gen["ramp_down_mw"].to_numpy(float)
    constraints: list[cp.Constraint] = []
    if T > 1:
        up = np.flatnonzero(np.isfinite(ramp_up))
        down = np.flatnonzero(np.isfinite(ramp_down))
        if up.size:
            constraints.append(p[up, 1:] - p[up, :-1] <= np.repeat(ramp_up[up, None], T - 1, 1))
        if down.size:
            constraints.append(p[down, 1:] - p[down, :-1] >= -np.repeat(ramp_down[down, None], T - 1, 1))
    prev = gen["p_prev_mw"].to_numpy(float)
    up_from_prev = np.flatnonzero(np.isfinite(prev) & np.isfinite(ramp_up))
    down_from_prev = np.flatnonzero(np.isfinite(prev) & np.isfinite(ramp_down))
    if up_from_prev.size:
        constraints.append(p[up_from_prev, 0] - prev[up_from_prev] <= ramp_up[up_from_prev])
    if down_from_prev.size:
        constraints.append(p[down_from_prev, 0] - prev[down_from_prev] >= -ramp_down[down_from_prev])
    return constraints


def define_reference_angle(data: LascopfData, theta: cp.Variable) -> cp.Constraint:
    """``theta[ref, t] = 0`` in every interval."""
    return theta[data.model.ref, :] == 0


def define_power_balance(data: LascopfData, p: cp.Variable, theta: cp.Variable) -> cp.Constraint:
    """``Cg P - base Bbus theta = Pd + Gs + Pbusinj`` per bus and interval; minus its dual is the LMP."""
    m = data.model
    rhs = data.loads_mw + m.gs_mw[:, None] + m.pbusinj_mw[:, None]
    return m.cg @ p - (m.base_mva * m.bbus) @ theta == rhs


@dataclass
class GenerationCost:
    terms: list  # cvxpy expressions summed into the objective
    constraints: list[cp.Constraint]  # piecewise-linear epigraph rows
    constant: float  # sum of c0 over polynomial generators and intervals (not given to cvxpy)


def define_generation_cost(data: LascopfData, p: cp.Variable) -> GenerationCost:
    """``sum_t sum_g c2 P^2 + c1 P + c0`` (polynomial) plus ``sum_t sum_g z[g, t]`` (piecewise-linear).

    A piecewise-linear cost through points ``(x_i, y_i)`` is the epigraph
    ``z[g, t] >= s_i P[g, t] + (y_i - s_i x_i)`` of each segment ``i`` with slope
    ``s_i = (y_{i+1} - y_i) / (x_{i+1} - x_i)`` (convex costs: the max of the segments).
    """
    net = data.model.network
    gen = net.gen
    T = data.n_intervals
    c2 = gen["c2"].to_numpy(float)
    c1 = gen["c1"].to_numpy(float)
    c0 = gen["c0"].to_numpy(float)
    poly = (gen["cost_model"] == "poly").to_numpy()
    quad = np.flatnonzero(poly & (c2 != 0))
    lin = np.flatnonzero(poly & (c1 != 0))
    terms = []
    if quad.size:
        terms.append(cp.sum(cp.multiply(np.repeat(c2[quad, None], T, 1), cp.square(p[quad, :]))))
    if lin.size:
        terms.append(cp.sum(c1[lin] @ p[lin, :]))
    constant = float(T * c0[poly].sum())
    constraints: list[cp.Constraint] = []
    pwl_gens = np.flatnonzero(~poly)
    if pwl_gens.size:
        z = cp.Variable((pwl_gens.size, T), name="pwl_cost")
        gen_names = gen["gen"].to_numpy()
        z_of_gen = {name: i for i, name in enumerate(gen_names[pwl_gens])}
        position_of_gen = {name: i for i, name in enumerate(gen_names)}
        seg_z, seg_gen, slope, intercept = [], [], [], []
        for name, points in net.pwl_points.groupby("gen", sort=False):  # one group per PWL generator
            x = points["mw"].to_numpy(float)
            y = points["cost"].to_numpy(float)
            s = np.diff(y) / np.diff(x)
            seg_z += [z_of_gen[name]] * len(s)
            seg_gen += [position_of_gen[name]] * len(s)
            slope += s.tolist()
            intercept += (y[:-1] - s * x[:-1]).tolist()
        slope_m = np.repeat(np.asarray(slope)[:, None], T, 1)
        intercept_m = np.repeat(np.asarray(intercept)[:, None], T, 1)
        constraints.append(z[np.asarray(seg_z), :] >= cp.multiply(slope_m, p[np.asarray(seg_gen), :]) + intercept_m)
        terms.append(cp.sum(z))
    return GenerationCost(terms, constraints, constant)


def base_flow_limits(data: LascopfData, branches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Base case: ``max(-rate, angle lo) <= F[l, t] <= min(rate, angle hi)`` (see :func:`.data.make_data`)."""
    return data.base_lo[branches], data.base_hi[branches]


def post_contingency_flow_limits(data: LascopfData, branches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """After outage ``k``, under the pre-outage dispatch: ``-R[l] <= F[l, t] + LODF[l, k] F[k, t] <= R[l]`` (rating only).

    ``R`` is the normal rating ``rateA`` (preventive) or the emergency rating ``E`` (corrective:
    the flows at the moment of the outage; the trajectory brings them back under ``rateA``).
    """
    return -data.post_rate[branches], data.post_rate[branches]


def row_limits(data: LascopfData, rows: RowSet) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper limit (MW, may be infinite) of each row: base or post-contingency by ``k``."""
    base = rows.k < 0
    base_lo, base_hi = base_flow_limits(data, rows.l)
    post_lo, post_hi = post_contingency_flow_limits(data, rows.l)
    return np.where(base, base_lo, post_lo), np.where(base, base_hi, post_hi)


def row_matrix(data: LascopfData, rows: RowSet) -> tuple[sp.csr_matrix, sp.csr_matrix | None, np.ndarray]:
    """Rows as ``A @ vec(theta) + B @ vec(P) + offset`` (vec in column order: bus + n_bus * t, gen + n_gen * t).

    Row ``(l, k, t)`` is ``F[l, t] + LODF[l, k] F[k, t]`` for a branch outage ``k`` (no LODF term for
    ``k = -1``), ``F[l, t] + D[l, j] P[g_j, t]`` for generator outage ``j = k - K``,
    with ``F = base Bf theta + Pfinj``. ``B`` is None without generator-outage rows.
    """
    m = data.model
    nl, T, n_gen = m.network.n_branch, data.n_intervals, m.network.n_gen
    n = len(rows)
    K = data.n_branch_outages
    cont = np.flatnonzero((rows.k >= 0) & (rows.k < K))
    row_index = np.concatenate([np.arange(n), cont])
    flow_index = np.concatenate([rows.l + nl * rows.t, data.outaged[rows.k[cont]] + nl * rows.t[cont]])
    coefficients = np.concatenate([np.ones(n), data.lodf[rows.l[cont], rows.k[cont]]])
    rows_of_flows = sp.csr_matrix((coefficients, (row_index, flow_index)), shape=(n, nl * T))
    flows_of_theta = sp.kron(sp.identity(T, format="csr"), m.base_mva * m.bf, format="csc")
    matrix = (rows_of_flows @ flows_of_theta).tocsr()
    offset = rows_of_flows @ np.tile(m.pfinj_mw, T)
    lost_gen = np.flatnonzero(rows.k >= K)
    p_matrix = None
    if lost_gen.size:
        go = data.gen_outages
        j = rows.k[lost_gen] - K
        p_matrix = sp.csr_matrix(
            (go.factors[rows.l[lost_gen], j], (lost_gen, go.gen[j] + n_gen * rows.t[lost_gen])), shape=(n, n_gen * T)
        )
    return matrix, p_matrix, offset


@dataclass
class SoftLimitSlacks:
    variable: cp.Variable | None  # nonnegative MW, None with hard limits
    slack_of_row: np.ndarray  # per RowSet row: index into ``variable`` (-1: hard row)
    matrix: sp.csr_matrix | None  # rows x slacks, 1 where a row is relaxed by a slack
    penalty: float | None  # $/MWh
    slack_of_trajectory_row: np.ndarray | None = None  # per trajectory row: index into ``variable`` (-1: hard)
    trajectory_matrix: sp.csr_matrix | None = None  # trajectory rows x slacks (corrective security)
    slack_of_endpoint_row: np.ndarray | None = None  # the same for the endpoint form's Q_N-only trajectories
    endpoint_matrix: sp.csr_matrix | None = None
    branch_keys: np.ndarray | None = None  # soft_slack "branch": per slack its key l * T + t (sorted)


def define_soft_limit_slacks(
    data: LascopfData, rows: RowSet, trajectories: Trajectories | None = None, endpoints: Trajectories | None = None,
    endpoint_data: LascopfData | None = None,
) -> SoftLimitSlacks:
    """With a soft-limit penalty, slacks ``s >= 0`` (MW) on the post-contingency rows, costing ``penalty sum(s)``.

    Relaxed rows: every post-contingency row ``(l, k, t)`` (``k >= 0``: branch and generator
    outages), whose limit is ``rateA`` (preventive) or, corrective, the emergency rating ``E`` at the
    moment of the outage; and, corrective, every trajectory row ``(l, k, t, s)`` with a finite
    limit (``E`` for ``s < N``, ``rateA`` at ``s = N``; the endpoint form's ``endpoints`` rows are at
    ``s = N``). Hard: the base rows (``k = -1``), the
    balance, the unit limits (``Pmin..Pmax`` of ``P`` and ``Q``), the ramps (also the trajectory's
    steps) and the generator outages' response limits.

    ``soft_slack="row"``: one slack per relaxed row (a trajectory row's own, at each step);
    ``"branch"``: one per monitored branch and interval ``(l, t)``, shared by all its relaxed rows
    (every outage, at the outage and at every trajectory step), so the worst overload is paid once.
    A relaxed row reads ``lo - s <= flow <= hi + s``.
    """
    soft = data.soft_penalty is not None
    slack_rows = np.flatnonzero(rows.k >= 0) if soft else np.zeros(0, dtype=int)
    slack_of_row = np.full(len(rows), -1)
    sets = [(data, trajectories), (endpoint_data, endpoints)]
    slack_of_sets = [np.full(0 if tr is None else len(tr), -1) for _, tr in sets]
    relaxed = []  # per set: the positions of its relaxed rows
    for (set_data, tr) in sets:
        if soft and tr is not None and len(tr):
            relaxed.append(np.flatnonzero(np.isfinite(trajectory_row_limits(set_data, tr.l, tr.s))))
        else:
            relaxed.append(np.zeros(0, dtype=int))
    if not slack_rows.size and not any(r.size for r in relaxed):
        return SoftLimitSlacks(None, slack_of_row, None, data.soft_penalty, *slack_of_sets[:1], None, slack_of_sets[1], None)
    branch_keys = None
    if data.soft_slack == "branch":  # one slack per monitored branch and interval
        T = data.n_intervals
        keys = [rows.l[slack_rows] * T + rows.t[slack_rows]]
        keys += [tr.l[r] * T + tr.row_t()[r] if r.size else np.zeros(0, int) for (_, tr), r in zip(sets, relaxed)]
        branch_keys, index = np.unique(np.concatenate(keys), return_inverse=True)
        bounds = np.cumsum([0] + [k.size for k in keys])
        slack_of_row[slack_rows] = index[bounds[0]:bounds[1]]
        for i, r in enumerate(relaxed):
            slack_of_sets[i][r] = index[bounds[i + 1]:bounds[i + 2]]
    else:  # one slack per relaxed row
        slack_of_row[slack_rows] = np.arange(slack_rows.size)
        start = slack_rows.size
        for i, r in enumerate(relaxed):
            slack_of_sets[i][r] = start + np.arange(r.size)
            start += r.size
    n_slack = int(max(slack_of_row.max(initial=-1), *(x.max(initial=-1) for x in slack_of_sets))) + 1
    variable = cp.Variable(n_slack, nonneg=True, name="slack")
    matrix = sp.csr_matrix((np.ones(slack_rows.size), (slack_rows, slack_of_row[slack_rows])), shape=(len(rows), n_slack))
    matrices = [
        sp.csr_matrix((np.ones(r.size), (r, x[r])), shape=(x.size, n_slack)) for r, x in zip(relaxed, slack_of_sets)
    ]
    return SoftLimitSlacks(variable, slack_of_row, matrix, data.soft_penalty, slack_of_sets[0], matrices[0],
                           slack_of_sets[1], matrices[1], branch_keys)


@dataclass
class FlowLimits:
    upper: cp.Constraint | None
    lower: cp.Constraint | None
    upper_rows: np.ndarray  # positions in the RowSet of ``upper``'s rows (finite upper limit)
    lower_rows: np.ndarray

    @property
    def constraints(self) -> list[cp.Constraint]:
        return [c for c in (self.upper, self.lower) if c is not None]


def define_flow_limits(
    data: LascopfData, rows: RowSet, theta: cp.Variable, slacks: SoftLimitSlacks, p: cp.Variable | None = None
) -> FlowLimits:
    """``lo - s <= A vec(theta) + B vec(P) + offset <= hi + s`` over the rows (:func:`row_matrix`, :func:`row_limits`).

    Base and post-contingency rows share one upper and one lower constraint, in the
    order of ``rows``, each side only where its limit is finite; ``s`` is the row's
    soft-limit slack (0 for hard rows).
    """
    lo, hi = row_limits(data, rows)
    upper_rows = np.flatnonzero(np.isfinite(hi))
    lower_rows = np.flatnonzero(np.isfinite(lo))
    upper = lower = None
    if len(rows):
        matrix, p_matrix, offset = row_matrix(data, rows)
        vec_theta = cp.vec(theta, order="F")
        vec_p = cp.vec(p, order="F") if p_matrix is not None else None
        if upper_rows.size:
            flow = matrix[upper_rows] @ vec_theta
            if p_matrix is not None:
                flow = flow + p_matrix[upper_rows] @ vec_p
            if slacks.variable is not None:
                flow = flow - slacks.matrix[upper_rows] @ slacks.variable
            upper = flow <= hi[upper_rows] - offset[upper_rows]
        if lower_rows.size:
            flow = matrix[lower_rows] @ vec_theta
            if p_matrix is not None:
                flow = flow + p_matrix[lower_rows] @ vec_p
            if slacks.variable is not None:
                flow = flow + slacks.matrix[lower_rows] @ slacks.variable
            lower = flow >= lo[lower_rows] - offset[lower_rows]
    return FlowLimits(upper, lower, upper_rows, lower_rows)


def define_generator_response_limits(data: LascopfData, response: ResponseRows, p: cp.Variable) -> list[cp.Constraint]:
    """After the loss of generator ``g_j`` in interval ``t``, each responding unit ``h`` within its limits:

    ``P[h, t] + alpha[j, h] P[g_j, t] <= Pmax[h]`` (upper rows) and ``>= Pmin[h]`` (lower rows, only
    where ``Pmin[g_j] < 0``; :mod:`.generator_outages`). Only the held ``response`` rows are built.
    """
    if not len(response):
        return []
    gen = data.model.network.gen
    n_gen, T = data.model.network.n_gen, data.n_intervals
    go, n = data.gen_outages, len(response)
    matrix = sp.csr_matrix(
        (np.concatenate([np.ones(n), go.alpha[response.j, response.h]]),
         (np.tile(np.arange(n), 2), np.concatenate([response.h, go.gen[response.j]]) + n_gen * np.tile(response.t, 2))),
        shape=(n, n_gen * T),
    )
    vec_p = cp.vec(p, order="F")
    constraints = []
    upper, lower = np.flatnonzero(~response.lower), np.flatnonzero(response.lower)
    if upper.size:
        constraints.append(matrix[upper] @ vec_p <= gen["pmax_mw"].to_numpy(float)[response.h[upper]])
    if lower.size:
        constraints.append(matrix[lower] @ vec_p >= gen["pmin_mw"].to_numpy(float)[response.h[lower]])
    return constraints


def define_objective(data: LascopfData, cost: GenerationCost, slacks: SoftLimitSlacks, extra_terms=()) -> cp.Minimize:
    """Minimize generation cost (without its constant) ``+ penalty sum(s)`` (``+`` the corrective movement cost)."""
    terms = list(cost.terms) + list(extra_terms)
    if slacks.variable is not None:
        terms.append(slacks.penalty * cp.sum(slacks.variable))
    return cp.Minimize(cp.sum(cp.hstack(terms)) if terms else cp.Constant(0.0))


# -- corrective security: the restoration trajectories ---------------------------------------


def trajectory_columns(data: LascopfData, trajectories: Trajectories) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of ``Q``: its pair, step ``s`` (1..N) and interval (column = pair * N + s - 1)."""
    N = data.corrective.steps
    pair = np.repeat(np.arange(trajectories.n_pairs), N)
    return pair, np.tile(np.arange(1, N + 1), trajectories.n_pairs), trajectories.pair_t[pair]


def define_corrective_variables(data: LascopfData, trajectories: Trajectories, units: np.ndarray | None = None) -> cp.Variable | None:
    """``Q[g, k, t, s]`` (MW) for the held (outage, interval) pairs as one len(units) x (pairs * N) variable.

    ``units``: the units with variables (default all; :meth:`.corrective.CorrectiveData.trajectory_units`: a unit with
    ``Pmax == Pmin`` has ``P = Q = Pmin`` and needs none).
    """
    if not trajectories.n_pairs:
        return None
    n_units = data.model.network.n_gen if units is None else units.size
    return cp.Variable((n_units, trajectories.n_pairs * data.corrective.steps), name="Q")


def trajectory_units(data: LascopfData) -> np.ndarray:
    """The units with ``Q`` variables (:meth:`.corrective.CorrectiveData.trajectory_units`)."""
    gen = data.model.network.gen
    responds = (data.gen_outages.alpha > 0).any(axis=0) if data.n_gen_outages else None
    return data.corrective.trajectory_units(gen["pmin_mw"].to_numpy(float), gen["pmax_mw"].to_numpy(float), responds)


def _lost_among(data: LascopfData, outage_k: np.ndarray, among: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions ``i`` whose outage ``outage_k[i]`` loses a generator in the mask ``among``, and that generator."""
    lost = lost_units(data, outage_k)
    where = np.flatnonzero((lost >= 0) & among[np.maximum(lost, 0)])
    return where, lost[where]


def _units(data: LascopfData, units: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The units with variables and each unit's row in ``Q`` (-1: none)."""
    n_gen = data.model.network.n_gen
    units = np.arange(n_gen) if units is None else units
    row = np.full(n_gen, -1)
    row[units] = np.arange(units.size)
    return units, row


def corrective_steps(data: LascopfData, trajectories: Trajectories, p: cp.Variable, q: cp.Variable, units: np.ndarray | None = None):
    """``Q[s] - Q[s-1]`` per column (rows: ``units``), with ``Q[0] = P[:, t]``: ``Q - Q S - P R`` with sparse shifts ``S`` and ``R``.

    Generator outage ``j``: ``Q[0] = P'`` (the response), i.e. minus ``(alpha[j] - e_{g_j}) P[g_j, t]`` more
    in the first step's column, a sparse map ``M`` of ``vec(P)``. Units without variables do not move.
    """
    units, unit_row = _units(data, units)
    pair, step, interval = trajectory_columns(data, trajectories)
    n = pair.size
    later = np.flatnonzero(step > 1)
    previous = sp.csr_matrix((np.ones(later.size), (later - 1, later)), shape=(n, n))  # column c-1 -> c
    first = np.flatnonzero(step == 1)
    from_dispatch = sp.csr_matrix((np.ones(first.size), (interval[first], first)), shape=(data.n_intervals, n))
    steps = q - q @ previous - p[units, :] @ from_dispatch
    K = data.n_branch_outages
    gen_first = first[trajectories.pair_k[pair[first]] >= K]
    if gen_first.size:
        go, n_gen = data.gen_outages, data.model.network.n_gen
        j = trajectories.pair_k[pair[gen_first]] - K
        change = go.alpha[j].copy()  # columns x n_gen: alpha[j] - e_{g_j}
        change[np.arange(j.size), go.gen[j]] = -1.0
        change[:, unit_row < 0] = 0.0  # units without variables (alpha is 0 for them; a fixed lost unit's Q is 0)
        col_i, unit = np.nonzero(change)
        response = sp.csr_matrix(
            (change[col_i, unit],
             (unit_row[unit] + units.size * gen_first[col_i], go.gen[j[col_i]] + n_gen * interval[gen_first[col_i]])),
            shape=(units.size * n, n_gen * data.n_intervals),
        )
        steps = steps - cp.reshape(response @ cp.vec(p, order="F"), (units.size, n), order="F")
    return steps


def define_corrective_generator_limits(
    data: LascopfData, trajectories: Trajectories, q: cp.Variable, units: np.ndarray | None = None
) -> list[cp.Constraint]:
    """``Pmin[g] <= Q[g, k, t, s] <= Pmax[g]``; after the outage of generator ``g`` its own ``Q[g, k, t, s] = 0``."""
    units, unit_row = _units(data, units)
    gen = data.model.network.gen
    n = q.shape[1]
    lo = np.repeat(gen["pmin_mw"].to_numpy(float)[units, None], n, 1)
    hi = np.repeat(gen["pmax_mw"].to_numpy(float)[units, None], n, 1)
    pair, _, _ = trajectory_columns(data, trajectories)
    lost, unit = _lost_among(data, trajectories.pair_k[pair], unit_row >= 0)
    if lost.size:
        row = unit_row[unit]
        lo[row, lost] = hi[row, lost] = 0.0
    return [q >= lo, q <= hi]


def define_corrective_ramp_limits(data: LascopfData, steps, units: np.ndarray | None = None) -> list[cp.Constraint]:
    """``-RampDown[g] f <= Q[g, s] - Q[g, s-1] <= RampUp[g] f`` with ``f = restore_minutes / interval_minutes``.

    The ramp limits are per dispatch interval (legacy: per hour); only finite ones get rows.
    """
    units, _ = _units(data, units)
    cd = data.corrective
    n = steps.shape[1]
    ramp_up, ramp_down = cd.ramp_up_step[units], cd.ramp_down_step[units]
    constraints: list[cp.Constraint] = []
    up = np.flatnonzero(np.isfinite(ramp_up))
    down = np.flatnonzero(np.isfinite(ramp_down))
    if up.size:
        constraints.append(steps[up, :] <= np.repeat(ramp_up[up, None], n, 1))
    if down.size:
        constraints.append(steps[down, :] >= -np.repeat(ramp_down[down, None], n, 1))
    return constraints


def fixed_dispatch(data: LascopfData, trajectories: Trajectories, units: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The units without variables (a mask) and per pair the MW they hold together: each its ``Pmin``, a lost one 0."""
    units, unit_row = _units(data, units)
    pmin = data.model.network.gen["pmin_mw"].to_numpy(float)
    fixed = unit_row < 0
    total = np.full(trajectories.n_pairs, pmin[fixed].sum())
    lost_fixed, unit = _lost_among(data, trajectories.pair_k, fixed)
    total[lost_fixed] -= pmin[unit]
    return fixed, total


def define_corrective_balance(
    data: LascopfData, trajectories: Trajectories, q: cp.Variable, units: np.ndarray | None = None
) -> cp.Constraint:
    """``sum_g Q[g, k, t, s] = sum_b (Pd[b, t] + Gs[b])``: every step meets interval ``t``'s load (the network is whole after ``k``).

    Units without variables hold their ``Pmin`` (a lost one 0), taken off the right-hand side.
    """
    pair, _, interval = trajectory_columns(data, trajectories)
    _, held = fixed_dispatch(data, trajectories, units)
    return cp.sum(q, axis=0) == data.corrective.demand[interval] - held[pair]


def trajectory_row_matrix(
    data: LascopfData, trajectories: Trajectories, units: np.ndarray | None = None
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Trajectory rows as ``A @ vec(Q) + offset`` (vec in column order: unit row + len(units) * column).

    Row ``(l, k, t, s)`` is ``(GSF[l] + LODF[l, k] GSF[k]) Q[:, k, t, s] + c[l, t] + LODF[l, k] c[k, t]``
    (:class:`.corrective.CorrectiveData`): dense in the units with variables, one column block per row; the
    units without variables (at ``Pmin``, a lost one at 0) are in the offset.
    """
    units, unit_row = _units(data, units)
    cd, N = data.corrective, data.corrective.steps
    k, t = trajectories.row_k(), trajectories.row_t()
    coefficients = cd.post_outage_gsf(trajectories.l, k, data.lodf, data.outaged)  # rows x n_gen
    offset = cd.post_outage_constant(trajectories.l, k, t, data.lodf, data.outaged)
    fixed = unit_row < 0
    if fixed.any():
        pmin = data.model.network.gen["pmin_mw"].to_numpy(float)
        offset = offset + coefficients[:, fixed] @ pmin[fixed]
        lost_fixed, unit = _lost_among(data, k, fixed)
        offset[lost_fixed] -= coefficients[lost_fixed, unit] * pmin[unit]
        coefficients = coefficients[:, units]
    column = trajectories.pair * N + (trajectories.s - 1)
    n, n_units = len(trajectories), units.size
    matrix = sp.csr_matrix(
        (coefficients.ravel(), (np.repeat(np.arange(n), n_units), (column[:, None] * n_units + np.arange(n_units)[None, :]).ravel())),
        shape=(n, n_units * trajectories.n_pairs * N),
    )
    return matrix, offset


def define_trajectory_flow_limits(
    data: LascopfData, trajectories: Trajectories, q: cp.Variable, slack_variable: cp.Variable | None = None,
    slack_matrix: sp.csr_matrix | None = None, units: np.ndarray | None = None,
) -> FlowLimits:
    """``-L - s <= A vec(Q) + offset <= L + s`` (:func:`trajectory_row_matrix`), ``L = E[l]`` for ``s < N``, ``rateA[l]`` at ``s = N``.

    ``s``: the row's soft-limit slack (``slack_matrix @ slack_variable``, :func:`define_soft_limit_slacks`; 0 with hard limits).
    """
    limit = trajectory_row_limits(data, trajectories.l, trajectories.s)
    rows = np.flatnonzero(np.isfinite(limit))
    upper = lower = None
    if rows.size:
        matrix, offset = trajectory_row_matrix(data, trajectories, units)
        flow = matrix[rows] @ cp.vec(q, order="F")
        if slack_variable is not None and slack_matrix is not None:
            relax = slack_matrix[rows] @ slack_variable
            upper = flow - relax <= limit[rows] - offset[rows]
            lower = flow + relax >= -limit[rows] - offset[rows]
        else:
            upper = flow <= limit[rows] - offset[rows]
            lower = flow >= -limit[rows] - offset[rows]
    return FlowLimits(upper, lower, rows, rows)


def define_corrective_movement_cost(data: LascopfData, steps) -> tuple[list, list[cp.Constraint]]:
    """``corrective_cost * sum |Q[s] - Q[s-1]|`` as ``corrective_cost * sum(u)``, ``u >= +-(Q[s] - Q[s-1])`` (none at cost 0)."""
    price = data.corrective.settings.corrective_cost
    if price <= 0:
        return [], []
    u = cp.Variable(steps.shape, nonneg=True, name="corrective_mw")
    return [price * cp.sum(u)], [u >= steps, u >= -steps]
