"""Flow-limit rows: which (branch, outage, interval) triples a model holds, and which ones a dispatch violates.

A row ``(l, k, t)`` limits the flow on branch ``l`` in interval ``t`` after outage
``k`` (``k = -1``: the base case; ``0 <= k < K``: branch outage ``k``; ``K <= k < K + G``:
generator outage ``j = k - K``, :mod:`.generator_outages`). The extensive form holds
:func:`all_rows`; screening starts with none and adds :func:`violated_rows` until none is left.
Generator outages also have response-limit rows ``(h, j, t)`` (:class:`ResponseRows`:
:func:`all_response_rows`, :func:`violated_response_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import LascopfData


@dataclass
class RowSet:
    """Flow-limit rows: monitored branch ``l``, outage column ``k`` (-1 = base case), interval ``t``."""

    l: np.ndarray
    k: np.ndarray
    t: np.ndarray

    @classmethod
    def empty(cls) -> RowSet:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), z.copy())

    def __len__(self) -> int:
        return len(self.l)

    def keys(self, n_outages: int, n_intervals: int) -> np.ndarray:
        return (self.l * (n_outages + 1) + (self.k + 1)) * n_intervals + self.t

    def extend(self, other: RowSet) -> RowSet:
        return RowSet(np.concatenate([self.l, other.l]), np.concatenate([self.k, other.k]), np.concatenate([self.t, other.t]))

    def select(self, mask: np.ndarray) -> RowSet:
        """The rows where ``mask`` is true, in their order."""
        return RowSet(self.l[mask], self.k[mask], self.t[mask])


def all_rows(data: LascopfData) -> RowSet:
    """Every finite base row and every post-contingency row (l != k, finite rating): the extensive form."""
    T = data.n_intervals
    base_branches = np.flatnonzero(np.isfinite(data.base_lo) | np.isfinite(data.base_hi))
    monitored_l, outage_k = np.meshgrid(data.monitored_branches(), np.arange(data.n_outages), indexing="ij")
    not_self = monitored_l != data.outage_branch(outage_k)
    monitored_l, outage_k = monitored_l[not_self], outage_k[not_self]
    rows_l = np.concatenate([base_branches, monitored_l])
    rows_k = np.concatenate([np.full(base_branches.size, -1), outage_k])
    per_interval = rows_l.size
    return RowSet(np.tile(rows_l, T), np.tile(rows_k, T), np.repeat(np.arange(T), per_interval))


def post_contingency_block(data: LascopfData, flows: np.ndarray, dispatch: np.ndarray | None, t: int) -> np.ndarray:
    """Monitored branches x outage columns: the flows after each outage in interval ``t`` (MW).

    Branch outage ``k``: ``F[l] + LODF[l, k] F[k]``; generator outage ``j``: ``F[l] + D[l, j] P[g_j, t]``.
    """
    monitored = data.monitored_branches()
    flow = flows[:, t]
    block = data.monitored_lodf() * flow[data.outaged][None, :]
    if data.n_gen_outages:
        if dispatch is None:
            raise ValueError("generator-outage flows need the dispatch")
        block = np.hstack([block, data.monitored_godf() * dispatch[data.gen_outages.gen, t][None, :]])
    block += flow[monitored][:, None]
    return block


def violated_rows(
    data: LascopfData, flows: np.ndarray, tol_mw: float, per_branch: int | None = None, present: RowSet | None = None,
    dispatch: np.ndarray | None = None, pair_violations: list | None = None,
) -> RowSet:
    """Base and post-contingency rows whose flow exceeds its limit by more than ``tol_mw`` (relative to max(1, limit)).

    ``per_branch``: keep only the ``per_branch`` worst outages per monitored branch and
    interval (screening adds the rest later if they are still violated); ``None`` = all.
    ``present``: rows already in the model, never returned (with soft limits they may
    stay violated, paid by their slack). ``dispatch`` (n_gen x T): needed with generator outages.
    ``pair_violations`` (corrective): a list that receives, from the same blocks, the post-contingency flows above
    ``rateA`` (:func:`outage_violations`, for :func:`pairs_to_correct`), so screening computes each block once.
    """
    sensitivities = data.contingencies.sensitivities
    monitored = data.monitored_branches()
    rate_bound = data.rate[monitored] + tol_mw * np.maximum(1.0, data.rate[monitored])
    lo, hi = data.base_lo, data.base_hi
    base_scale = np.minimum(np.abs(lo), np.abs(hi))
    base_tol = tol_mw * np.maximum(1.0, np.where(np.isfinite(base_scale), base_scale, 1.0))
    out_l, out_k, out_t = [], [], []
    monitored_rate = data.post_rate[monitored][:, None]
    post_tol = tol_mw * np.maximum(1.0, monitored_rate)
    monitored_pos = np.full(len(data.rate), -1)
    monitored_pos[monitored] = np.arange(monitored.size)
    self_rows = monitored_pos[sensitivities.outaged]  # the outaged branch's own row in each column (-1 if unmonitored)
    self_cols = np.flatnonzero(self_rows >= 0)
    present = present if present is not None else RowSet.empty()
    present_base = np.zeros((len(data.rate), data.n_intervals), dtype=bool)
    present_base[present.l[present.k < 0], present.t[present.k < 0]] = True
    present_post = present.k >= 0
    has_outages = data.n_outages > 0 and monitored.size > 0
    post_bound = (monitored_rate + post_tol).ravel()
    for t in range(data.n_intervals):  # one vectorized (branches x outages) block per interval
        flow = flows[:, t]
        base_violated = np.flatnonzero(((flow > hi + base_tol) | (flow < lo - base_tol)) & ~present_base[:, t])
        out_l.append(base_violated)
        out_k.append(np.full(base_violated.size, -1))
        out_t.append(np.full(base_violated.size, t))
        if not has_outages:
            continue
        # monitored branches x outages: |post-contingency flow| - (rating + tolerance), MW
        excess = post_contingency_block(data, flows, dispatch, t)
        np.abs(excess, out=excess)
        if pair_violations is not None:
            pair_violations.append(_above(excess, rate_bound, monitored, self_rows, self_cols, t))
        excess -= post_bound[:, None]
        excess[self_rows[self_cols], self_cols] = -np.inf
        present_here = present_post & (present.t == t)
        excess[monitored_pos[present.l[present_here]], present.k[present_here]] = -np.inf
        overloaded = np.flatnonzero((excess > 0).any(axis=1))  # monitored rows with a violation
        if not overloaded.size:
            continue
        overloaded_excess = excess[overloaded]
        if per_branch is not None and per_branch < overloaded_excess.shape[1]:
            worst = np.argpartition(-overloaded_excess, per_branch - 1, axis=1)[:, :per_branch]
            keep = np.zeros_like(overloaded_excess, dtype=bool)
            np.put_along_axis(keep, worst, True, axis=1)
            over = keep & (overloaded_excess > 0)
        else:
            over = overloaded_excess > 0
        row_i, outage_i = np.nonzero(over)
        out_l.append(monitored[overloaded[row_i]])
        out_k.append(outage_i)
        out_t.append(np.full(row_i.size, t))
    return RowSet(np.concatenate(out_l).astype(np.int64), np.concatenate(out_k).astype(np.int64), np.concatenate(out_t).astype(np.int64))


def _above(abs_block: np.ndarray, bound: np.ndarray, monitored: np.ndarray, self_rows, self_cols, t: int) -> tuple:
    """The cells of a (monitored x outages) block of |flows| above ``bound`` (but a branch's own outage): (l, k, t, MW above)."""
    over = abs_block > bound[:, None]
    over[self_rows[self_cols], self_cols] = False
    row_i, outage_i = np.nonzero(over)
    return (monitored[row_i], outage_i, np.full(row_i.size, t), abs_block[row_i, outage_i] - bound[row_i])


def outage_violations(data: LascopfData, flows: np.ndarray, tol_mw: float, dispatch: np.ndarray | None = None) -> list:
    """Per interval: the post-contingency flows (at the outage, under ``P[:, t]``) above ``rateA`` beyond ``tol_mw``."""
    sensitivities = data.contingencies.sensitivities
    monitored = data.monitored_branches()
    bound = data.rate[monitored] + tol_mw * np.maximum(1.0, data.rate[monitored])
    monitored_pos = np.full(len(data.rate), -1)
    monitored_pos[monitored] = np.arange(monitored.size)
    self_rows = monitored_pos[sensitivities.outaged]
    self_cols = np.flatnonzero(self_rows >= 0)
    return [_above(np.abs(post_contingency_block(data, flows, dispatch, t)), bound, monitored, self_rows, self_cols, t)
            for t in range(data.n_intervals)]


@dataclass
class Trajectories:
    """Corrective trajectories: the (outage, interval) pairs that have one, and their flow-limit rows.

    Pair ``j`` is outage column ``pair_k[j]`` in interval ``pair_t[j]`` and owns the variables
    ``Q[:, j, s]``, ``s = 1..N``. Row ``i`` limits branch ``l[i]`` under pair ``pair[i]``'s outage
    at step ``s[i]`` (within the emergency rating for ``s < N``, within ``rateA`` at ``s = N``).
    The extensive form holds :func:`all_trajectories`; screening adds a pair when the flows at its
    outage exceed ``rateA`` (:func:`pairs_to_correct`: without a trajectory, ``Q = P`` must hold)
    and the rows its trajectory violates (:func:`violated_trajectory_rows`).
    """

    pair_k: np.ndarray
    pair_t: np.ndarray
    l: np.ndarray
    pair: np.ndarray
    s: np.ndarray

    @classmethod
    def empty(cls) -> Trajectories:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), z.copy(), z.copy(), z.copy())

    @classmethod
    def of_pairs(cls, pair_k: np.ndarray, pair_t: np.ndarray) -> Trajectories:
        """The pairs ``(pair_k[j], pair_t[j])`` without rows."""
        z = np.zeros(0, dtype=np.int64)
        return cls(np.asarray(pair_k, dtype=np.int64), np.asarray(pair_t, dtype=np.int64), z, z.copy(), z.copy())

    def __len__(self) -> int:
        return len(self.l)

    @property
    def n_pairs(self) -> int:
        return len(self.pair_k)

    def row_k(self) -> np.ndarray:
        return self.pair_k[self.pair]

    def row_t(self) -> np.ndarray:
        return self.pair_t[self.pair]

    def pair_lookup(self, n_outages: int, n_intervals: int) -> np.ndarray:
        """``lookup[k * T + t]``: the pair of outage ``k`` in interval ``t`` (-1: none)."""
        lookup = np.full(n_outages * n_intervals, -1, dtype=np.int64)
        lookup[self.pair_k * n_intervals + self.pair_t] = np.arange(self.n_pairs)
        return lookup

    def add(self, n_outages: int, n_intervals: int, pair_k, pair_t, l, k, t, s) -> Trajectories:
        """These pairs (those not held yet, appended) and rows ``(l, k, t, s)`` (of held or added pairs) added."""
        pair_k, pair_t = np.asarray(pair_k, np.int64), np.asarray(pair_t, np.int64)
        keys = np.unique(pair_k * n_intervals + pair_t)
        held = np.zeros(n_outages * n_intervals, dtype=bool)
        held[self.pair_k * n_intervals + self.pair_t] = True
        keys = keys[~held[keys]]
        grown = Trajectories(
            np.concatenate([self.pair_k, keys // n_intervals]), np.concatenate([self.pair_t, keys % n_intervals]),
            self.l, self.pair, self.s,
        )
        pair = grown.pair_lookup(n_outages, n_intervals)[np.asarray(k, np.int64) * n_intervals + np.asarray(t, np.int64)]
        if (pair < 0).any():
            raise ValueError("trajectory rows of an outage and interval without a trajectory")
        return Trajectories(
            grown.pair_k, grown.pair_t, np.concatenate([self.l, np.asarray(l, np.int64)]),
            np.concatenate([self.pair, pair]), np.concatenate([self.s, np.asarray(s, np.int64)]),
        )

    def row_keys(self, steps: int) -> np.ndarray:
        return (self.l * max(self.n_pairs, 1) + self.pair) * steps + (self.s - 1)

    def select_pairs(self, keep: np.ndarray) -> Trajectories:
        """Only the pairs where ``keep`` (a mask over the pairs) is true, with their rows, renumbered."""
        new_index = np.cumsum(keep) - 1
        rows = keep[self.pair]
        return Trajectories(self.pair_k[keep], self.pair_t[keep], self.l[rows], new_index[self.pair[rows]], self.s[rows])


def trajectory_row_limits(data: LascopfData, l: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Per trajectory row: ``E[l]`` (emergency) for ``s < N``, ``rateA[l]`` at ``s = N`` (symmetric, MW)."""
    return np.where(s < data.corrective.steps, data.corrective.emergency[l], data.rate[l])


def all_trajectories(data: LascopfData) -> Trajectories:
    """Every (outage, interval) pair with a trajectory and every row of it (monitored ``l`` != outaged ``k``, every step)."""
    T, N, K = data.n_intervals, data.corrective.steps, data.n_outages
    pair_k, pair_t = np.repeat(np.arange(K), T), np.tile(np.arange(T), K)
    monitored_l, outage_k = np.meshgrid(data.monitored_branches(), np.arange(K), indexing="ij")
    not_self = monitored_l != data.outage_branch(outage_k)
    monitored_l, outage_k = monitored_l[not_self], outage_k[not_self]
    pair_of_row = outage_k[:, None] * T + np.arange(T)[None, :]  # pair = k * T + t (the order above)
    per_step = monitored_l.size * T
    l = np.tile(np.repeat(monitored_l, T), N)
    pair = np.tile(pair_of_row.ravel(), N)
    s = np.repeat(np.arange(1, N + 1), per_step)
    return Trajectories(pair_k, pair_t, l.astype(np.int64), pair.astype(np.int64), s.astype(np.int64))


def pairs_to_correct(
    data: LascopfData, flows: np.ndarray, tol_mw: float, present: Trajectories, dispatch: np.ndarray | None = None,
    held_elsewhere: Trajectories | None = None, max_new: int | None = None, violations: list | None = None,
) -> Trajectories:
    """``present`` plus every pair whose flows at the outage exceed ``rateA`` (beyond ``tol_mw``), with those rows at every step.

    A pair without a trajectory stands for ``Q = P[:, t]`` (a generator outage: ``Q = P'``, the
    response) at every step, which meets its rows exactly when its flows at the outage are within
    ``rateA`` (and ``E``, the post-contingency rows). ``dispatch``: needed with generator outages.
    ``held_elsewhere``: pairs with a trajectory in another set (the endpoint form's full
    trajectories), never added. ``max_new``: at most this many new pairs, those with the largest
    excess over ``rateA`` (MW; screening adds the others later if they still need one); ``None`` = all.
    ``violations``: :func:`outage_violations` of these flows when already computed (by :func:`violated_rows`).
    """
    monitored = data.monitored_branches()
    K, T, N = data.n_outages, data.n_intervals, data.corrective.steps
    if not K or not monitored.size:
        return present
    if violations is None:
        violations = outage_violations(data, flows, tol_mw, dispatch)
    held = np.zeros(K * T, dtype=bool)
    held[present.pair_k * T + present.pair_t] = True
    if held_elsewhere is not None:
        held[held_elsewhere.pair_k * T + held_elsewhere.pair_t] = True
    l, k, t, excess = (np.concatenate([v[i] for v in violations]) for i in range(4))
    l, k, t = (v.astype(np.int64) for v in (l, k, t))
    new = ~held[k * T + t]
    l, k, t, excess = l[new], k[new], t[new], excess[new]
    if max_new is not None and l.size:
        key = k * T + t
        worst = np.zeros(K * T)
        np.maximum.at(worst, key, excess)
        candidates = np.unique(key)
        if candidates.size > max_new:
            chosen = candidates[np.argsort(-worst[candidates], kind="stable")[:max_new]]
            keep = np.isin(key, chosen)
            l, k, t = l[keep], k[keep], t[keep]
    return present.add(K, T, k, t, np.tile(l, N), np.tile(k, N), np.tile(t, N), np.repeat(np.arange(1, N + 1), l.size))


@dataclass
class TrajectoryValues:
    """A solved trajectory dispatch: ``q`` (len(units) x pairs*steps) for the units with ``Q`` variables, every other unit at
    ``fixed`` (its ``Pmin``), the lost unit of a generator outage at 0 (column ``c`` is pair ``c // steps``)."""

    q: np.ndarray
    units: np.ndarray
    fixed: np.ndarray  # n_gen, MW
    lost_unit: np.ndarray  # per pair: the lost generator's position (-1: a branch outage)
    steps: int

    def columns(self, columns: np.ndarray) -> np.ndarray:
        """The dispatch of every unit (n_gen x len(columns), MW) in these columns."""
        out = np.repeat(self.fixed[:, None], columns.size, axis=1)
        out[self.units] = self.q[:, columns]
        lost = self.lost_unit[columns // self.steps]
        has = np.flatnonzero(lost >= 0)
        out[lost[has], has] = 0.0
        return out


def lost_units(data: LascopfData, pair_k: np.ndarray) -> np.ndarray:
    """Per outage column ``k``: the lost generator's position (-1 for a branch outage)."""
    pair_k = np.asarray(pair_k, dtype=np.int64)
    out = np.full(pair_k.size, -1, dtype=np.int64)
    lost = np.flatnonzero(pair_k >= data.n_branch_outages)
    if lost.size:
        out[lost] = data.gen_outages.gen[pair_k[lost] - data.n_branch_outages]
    return out


def outage_flows(data: LascopfData, qc: np.ndarray, k: np.ndarray, t: np.ndarray, branches: np.ndarray) -> np.ndarray:
    """Flows (MW) on ``branches`` (monitored or outaged) under outage ``k[c]`` in interval ``t[c]`` of each dispatch column ``qc[:, c]``.

    ``GSF_l Q + c_l + LODF[l, k] (GSF_k Q + c_k)``; a generator outage leaves the network whole (no LODF term).
    """
    cd = data.corrective
    own = cd.gsf[cd.gsf_row[branches]] @ qc + cd.flow_constant[cd.gsf_row[branches]][:, t]
    lost_branch = np.flatnonzero(k < data.n_branch_outages)
    if lost_branch.size:
        kb = k[lost_branch]
        rows_k = cd.gsf_row[data.outaged[kb]]
        at_k = np.einsum("gc,cg->c", qc[:, lost_branch], cd.gsf[rows_k]) + cd.flow_constant[rows_k, t[lost_branch]]
        own[:, lost_branch] += data.lodf[branches][:, kb] * at_k[None, :]
    return own


def trajectory_flows(data: LascopfData, q, traj: Trajectories, branches: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Flows (MW) on ``branches`` under each column's outage for the trajectory columns ``columns`` (len(branches) x len(columns)).

    Column ``c`` is pair ``c // N`` at step ``c % N + 1``: ``GSF_l Q + c_l + LODF[l, k] (GSF_k Q + c_k)``. ``q``: a
    :class:`TrajectoryValues` or every unit's dispatch (n_gen x pairs*N).
    """
    N = data.corrective.steps
    pair = columns // N
    qc = q.columns(columns) if isinstance(q, TrajectoryValues) else q[:, columns]
    return outage_flows(data, qc, traj.pair_k[pair], traj.pair_t[pair], branches)


def violated_trajectory_rows(data: LascopfData, q, traj: Trajectories, tol_mw: float, block: int = 2048) -> Trajectories:
    """``traj`` plus the trajectory rows its solution ``q`` (:class:`TrajectoryValues`, or n_gen x pairs*N) violates beyond
    ``tol_mw`` (relative to max(1, limit))."""
    N = data.corrective.steps
    monitored = data.monitored_branches()
    if not traj.n_pairs or not monitored.size:
        return traj
    present = np.zeros(0, dtype=np.int64) if not len(traj) else np.sort(traj.row_keys(N))
    out_l, out_pair, out_s = [], [], []
    for start in range(0, traj.n_pairs * N, block):  # column blocks bound the memory, not a loop over rows
        columns = np.arange(start, min(start + block, traj.n_pairs * N))
        flows = trajectory_flows(data, q, traj, monitored, columns)
        step = columns % N + 1
        limit = np.where(step[None, :] < N, data.corrective.emergency[monitored][:, None], data.rate[monitored][:, None])
        over = np.abs(flows) > limit + tol_mw * np.maximum(1.0, limit)
        over &= monitored[:, None] != data.outage_branch(traj.pair_k[columns // N])[None, :]
        row_i, col_i = np.nonzero(over)
        out_l.append(monitored[row_i])
        out_pair.append(columns[col_i] // N)
        out_s.append(step[col_i])
    l, pair, s = (np.concatenate(v).astype(np.int64) for v in (out_l, out_pair, out_s))
    keys = (l * max(traj.n_pairs, 1) + pair) * N + (s - 1)
    new = ~np.isin(keys, present)
    return Trajectories(traj.pair_k, traj.pair_t, np.concatenate([traj.l, l[new]]), np.concatenate([traj.pair, pair[new]]),
                        np.concatenate([traj.s, s[new]]))


@dataclass
class ResponseRows:
    """Response-limit rows of generator outages: unit ``h`` in outage ``j`` (generator ``gen[j]`` lost), interval ``t``.

    ``lower`` false: ``P[h, t] + alpha[j, h] P[g_j, t] <= Pmax[h]``; true: ``>= Pmin[h]``
    (:mod:`.generator_outages` says which rows exist).
    """

    h: np.ndarray
    j: np.ndarray
    t: np.ndarray
    lower: np.ndarray

    @classmethod
    def empty(cls) -> ResponseRows:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), z.copy(), np.zeros(0, dtype=bool))

    def __len__(self) -> int:
        return len(self.h)

    def keys(self, n_gen: int, n_intervals: int) -> np.ndarray:
        return ((self.j * n_gen + self.h) * n_intervals + self.t) * 2 + self.lower

    def extend(self, other: ResponseRows) -> ResponseRows:
        return ResponseRows(*(np.concatenate([getattr(self, f), getattr(other, f)]) for f in ("h", "j", "t", "lower")))

    def select(self, mask: np.ndarray) -> ResponseRows:
        return ResponseRows(self.h[mask], self.j[mask], self.t[mask], self.lower[mask])


def all_response_rows(data: LascopfData) -> ResponseRows:
    """Every response-limit row: upper for every responding unit (``alpha > 0``), lower where the lost unit's ``Pmin < 0``."""
    go, T = data.gen_outages, data.n_intervals
    if go is None or not go.count:
        return ResponseRows.empty()
    j, h = np.nonzero(go.alpha > 0)
    lower = go.lower[j]
    j = np.concatenate([j, j[lower]])
    h = np.concatenate([h, h[lower]])
    side = np.concatenate([np.zeros(lower.size, bool), np.ones(int(lower.sum()), bool)])
    return ResponseRows(np.tile(h, T).astype(np.int64), np.tile(j, T).astype(np.int64), np.repeat(np.arange(T), h.size),
                        np.tile(side, T))


def violated_response_rows(
    data: LascopfData, dispatch: np.ndarray, tol_mw: float, present: ResponseRows, per_unit: int | None = 2
) -> ResponseRows:
    """Response-limit rows the dispatch violates beyond ``tol_mw`` (relative to max(1, |limit|)), not in ``present``.

    ``per_unit``: per unit, side and interval only the ``per_unit`` worst outages (the largest
    losses it must pick up; screening adds the others later if still violated); ``None`` = all.
    """
    go = data.gen_outages
    if go is None or not go.count:
        return ResponseRows.empty()
    gen = data.model.network.gen
    pmin, pmax = gen["pmin_mw"].to_numpy(float), gen["pmax_mw"].to_numpy(float)
    T = data.n_intervals
    responds = go.alpha > 0
    out = []
    for t in range(T):  # one (outages x units) block per interval
        post = dispatch[:, t][None, :] + go.alpha * dispatch[go.gen, t][:, None]
        for lower, excess in ((False, post - pmax[None, :]), (True, pmin[None, :] - post)):
            limit = pmin if lower else pmax
            excess = np.where(responds & (go.lower[:, None] if lower else True), excess, -np.inf)
            excess -= tol_mw * np.maximum(1.0, np.abs(limit))[None, :]
            held = (present.t == t) & (present.lower == lower)
            excess[present.j[held], present.h[held]] = -np.inf  # held rows are never returned
            if per_unit is not None and per_unit < excess.shape[0]:
                worst = np.argpartition(-excess, per_unit - 1, axis=0)[:per_unit]
                keep = np.zeros_like(excess, dtype=bool)
                np.put_along_axis(keep, worst, True, axis=0)
                excess = np.where(keep, excess, -np.inf)
            j, h = np.nonzero(excess > 0)
            out.append(ResponseRows(h.astype(np.int64), j.astype(np.int64), np.full(h.size, t, np.int64), np.full(h.size, lower)))
    new = ResponseRows.empty()
    for rows in out:
        new = new.extend(rows)
    return new
