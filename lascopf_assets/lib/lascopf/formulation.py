"""The LASCOPF as a cvxpy problem over a chosen set of flow-limit rows.

Variables ``P`` (n_gen x T, MW) and ``theta`` (n_bus x T, rad). Constraints:
``Pmin <= P <= Pmax``; ramp ``-RampDown <= P[:, t] - P[:, t-1] <= RampUp``
(t >= 2, and t = 1 against ``PgPrev`` where known); per bus and interval
``Cg P - base Bbus theta = Pd + Gs + Pbusinj`` (its dual is the LMP);
``theta_ref = 0``; and one row per selected triple ``(l, k, t)``: the flow on
branch ``l`` in interval ``t`` after outage ``k`` (``k = -1``: base case),
``F[l,t] + LODF[l,k] F[k,t]``, within its limit (base: rating and angle
limits; post-contingency: rating). Optional soft contingency limits add a
slack ``s >= 0`` per post-contingency row at ``penalty`` $/MWh.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from ..network.dc_model import DcModel
from .contingency_set import ContingencySet


@dataclass
class RowSet:
    """Flow-limit rows: monitored branch ``l``, outage column ``k`` (-1 = base case), interval ``t``."""

    l: np.ndarray
    k: np.ndarray
    t: np.ndarray

    @classmethod
    def empty(cls) -> "RowSet":
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), z.copy())

    def __len__(self) -> int:
        return len(self.l)

    def keys(self, n_outages: int, n_intervals: int) -> np.ndarray:
        return (self.l * (n_outages + 1) + (self.k + 1)) * n_intervals + self.t

    def extend(self, other: "RowSet") -> "RowSet":
        return RowSet(np.concatenate([self.l, other.l]), np.concatenate([self.k, other.k]), np.concatenate([self.t, other.t]))


@dataclass
class LascopfData:
    """Everything fixed across screening iterations: network matrices, loads, limits, LODFs."""

    model: DcModel
    loads_mw: np.ndarray  # n_bus x T
    contingencies: ContingencySet
    soft_penalty: float | None
    base_lo: np.ndarray  # n_branch, MW (may be -inf)
    base_hi: np.ndarray
    rate: np.ndarray  # n_branch, MW (inf = unlimited)
    soft_slack: str = "row"  # "row": slack per post-contingency row; "branch": per monitored branch and interval
    _lodf_mon: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_intervals(self) -> int:
        return self.loads_mw.shape[1]

    @property
    def lodf(self) -> np.ndarray:
        return self.contingencies.sensitivities.lodf

    @property
    def outaged(self) -> np.ndarray:
        return self.contingencies.sensitivities.outaged

    def monitored_lodf(self) -> np.ndarray:
        """LODF rows of the rated (monitored) branches, C-contiguous, cached."""
        if self._lodf_mon is None:
            mon = np.flatnonzero(np.isfinite(self.rate))
            self._lodf_mon = np.ascontiguousarray(self.lodf[mon])
        return self._lodf_mon


def make_data(
    model: DcModel, loads_mw: np.ndarray, contingencies: ContingencySet, soft_penalty: float | None, soft_slack: str = "row"
) -> LascopfData:
    br = model.network.branch
    base = model.base_mva
    rate = br["rate_mw"].to_numpy(float)
    shift = np.deg2rad(br["shift_deg"].to_numpy(float))
    with np.errstate(invalid="ignore"):
        a1 = base * model.b_pu * (np.deg2rad(br["angmin_deg"].to_numpy(float)) - shift)
        a2 = base * model.b_pu * (np.deg2rad(br["angmax_deg"].to_numpy(float)) - shift)
    a1 = np.where(np.isnan(a1), -np.inf, a1)  # inf - inf: no angle limit
    a2 = np.where(np.isnan(a2), np.inf, a2)
    lo = np.maximum(-rate, np.minimum(a1, a2))
    hi = np.minimum(rate, np.maximum(a1, a2))
    if soft_slack not in ("row", "branch"):
        raise ValueError(f"soft_slack must be 'row' or 'branch', got {soft_slack!r}")
    return LascopfData(model, np.asarray(loads_mw, float), contingencies, soft_penalty, lo, hi, rate, soft_slack)


def row_limits(data: LascopfData, rows: RowSet) -> tuple[np.ndarray, np.ndarray]:
    base = rows.k < 0
    lo = np.where(base, data.base_lo[rows.l], -data.rate[rows.l])
    hi = np.where(base, data.base_hi[rows.l], data.rate[rows.l])
    return lo, hi


def row_matrix(data: LascopfData, rows: RowSet) -> tuple[sp.csr_matrix, np.ndarray]:
    """Rows as ``A @ vec(theta) + offset`` (vec in column order: bus + n_bus * t)."""
    m = data.model
    nl, nb, T = m.network.n_branch, m.network.n_bus, data.n_intervals
    n = len(rows)
    cont = rows.k >= 0
    r_idx = np.concatenate([np.arange(n), np.flatnonzero(cont)])
    f_idx = np.concatenate([rows.l + nl * rows.t, data.outaged[rows.k[cont]] + nl * rows.t[cont]])
    vals = np.concatenate([np.ones(n), data.lodf[rows.l[cont], rows.k[cont]]])
    mf = sp.csr_matrix((vals, (r_idx, f_idx)), shape=(n, nl * T))
    bf_t = sp.kron(sp.identity(T, format="csr"), m.base_mva * m.bf, format="csc")
    a = (mf @ bf_t).tocsr()
    offset = mf @ np.tile(m.pfinj_mw, T)
    return a, offset


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


def build_problem(data: LascopfData, rows: RowSet) -> BuiltProblem:
    m = data.model
    net = m.network
    gen = net.gen
    ng, nb, T = net.n_gen, net.n_bus, data.n_intervals
    p = cp.Variable((ng, T), name="P")
    theta = cp.Variable((nb, T), name="theta")
    pmin = gen["pmin_mw"].to_numpy(float)
    pmax = gen["pmax_mw"].to_numpy(float)
    cons: list[cp.Constraint] = [p >= np.repeat(pmin[:, None], T, 1), p <= np.repeat(pmax[:, None], T, 1)]
    ru = gen["ramp_up_mw"].to_numpy(float)
    rd = gen["ramp_down_mw"].to_numpy(float)
    if T > 1:
        up = np.flatnonzero(np.isfinite(ru))
        dn = np.flatnonzero(np.isfinite(rd))
        if up.size:
            cons.append(p[up, 1:] - p[up, :-1] <= np.repeat(ru[up, None], T - 1, 1))
        if dn.size:
            cons.append(p[dn, 1:] - p[dn, :-1] >= -np.repeat(rd[dn, None], T - 1, 1))
    prev = gen["p_prev_mw"].to_numpy(float)
    up0 = np.flatnonzero(np.isfinite(prev) & np.isfinite(ru))
    dn0 = np.flatnonzero(np.isfinite(prev) & np.isfinite(rd))
    if up0.size:
        cons.append(p[up0, 0] - prev[up0] <= ru[up0])
    if dn0.size:
        cons.append(p[dn0, 0] - prev[dn0] >= -rd[dn0])
    cons.append(theta[m.ref, :] == 0)
    rhs = data.loads_mw + m.gs_mw[:, None] + m.pbusinj_mw[:, None]
    balance = m.cg @ p - (m.base_mva * m.bbus) @ theta == rhs
    cons.append(balance)

    # objective
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
    pwl_gens = np.flatnonzero(~poly)
    if pwl_gens.size:
        z = cp.Variable((pwl_gens.size, T), name="pwl_cost")
        pts = net.pwl_points
        name_to_z = {name: i for i, name in enumerate(gen["gen"].to_numpy()[pwl_gens])}
        seg_z, seg_g, slope, icpt = [], [], [], []
        name_to_pos = {n: i for i, n in enumerate(gen["gen"].to_numpy())}
        for name, grp in pts.groupby("gen", sort=False):  # one group per PWL generator
            x = grp["mw"].to_numpy(float)
            y = grp["cost"].to_numpy(float)
            s = np.diff(y) / np.diff(x)
            seg_z += [name_to_z[name]] * len(s)
            seg_g += [name_to_pos[name]] * len(s)
            slope += s.tolist()
            icpt += (y[:-1] - s * x[:-1]).tolist()
        slope_m = np.repeat(np.asarray(slope)[:, None], T, 1)
        icpt_m = np.repeat(np.asarray(icpt)[:, None], T, 1)
        cons.append(z[np.asarray(seg_z), :] >= cp.multiply(slope_m, p[np.asarray(seg_g), :]) + icpt_m)
        terms.append(cp.sum(z))

    lo, hi = row_limits(data, rows)
    upper = lower = slack = None
    up_rows = np.flatnonzero(np.isfinite(hi))
    lo_rows = np.flatnonzero(np.isfinite(lo))
    slack_rows = np.flatnonzero(rows.k >= 0) if data.soft_penalty is not None else np.zeros(0, dtype=int)
    slack_of_row = np.full(len(rows), -1)
    if slack_rows.size:
        if data.soft_slack == "branch":  # one slack per monitored branch and interval
            pair = rows.l[slack_rows] * data.n_intervals + rows.t[slack_rows]
            _, slack_of_row[slack_rows] = np.unique(pair, return_inverse=True)
        else:  # one slack per post-contingency row
            slack_of_row[slack_rows] = np.arange(slack_rows.size)
    if len(rows):
        a, offset = row_matrix(data, rows)
        vec_theta = cp.vec(theta, order="F")
        smap = None
        if slack_rows.size:
            n_slack = int(slack_of_row.max()) + 1
            slack = cp.Variable(n_slack, nonneg=True, name="slack")
            smap = sp.csr_matrix(
                (np.ones(slack_rows.size), (slack_rows, slack_of_row[slack_rows])), shape=(len(rows), n_slack)
            )
            terms.append(data.soft_penalty * cp.sum(slack))
        if up_rows.size:
            e = a[up_rows] @ vec_theta
            if slack is not None:
                e = e - smap[up_rows] @ slack
            upper = e <= hi[up_rows] - offset[up_rows]
            cons.append(upper)
        if lo_rows.size:
            e = a[lo_rows] @ vec_theta
            if slack is not None:
                e = e + smap[lo_rows] @ slack
            lower = e >= lo[lo_rows] - offset[lo_rows]
            cons.append(lower)
    objective = cp.Minimize(cp.sum(cp.hstack(terms)) if terms else cp.Constant(0.0))
    problem = cp.Problem(objective, cons)
    return BuiltProblem(problem, p, theta, balance, upper, lower, up_rows, lo_rows, slack, slack_of_row, constant)
