"""The endpoint form of the corrective trajectories: only ``Q_N`` per pair, the straight line checked, full ones where it fails.

Notation (:mod:`.corrective`): pair ``(k, t)``, ``Q_0`` = ``P[:, t]`` (generator outage: the response ``P'``,
the lost unit at 0), steps ``s = 1..N`` of fraction ``f`` of an interval, flows under outage ``k`` of a
dispatch ``Q``: ``F(Q) = A Q + b`` (shift factors and LODF, affine in ``Q``), ``F(Q_0)`` = the flows at the outage.

**The full form** (``trajectory_form="full"``): variables ``Q_1..Q_N`` with
(U) ``Pmin <= Q_s <= Pmax``; (R) ``-RD f <= Q_s - Q_{s-1} <= RU f``; (B) ``sum_g Q_s = demand_t``;
(F) ``|F_l(Q_s)| <= E_l`` for ``s < N`` and ``<= rateA_l`` at ``s = N``; cost ``c sum_s |Q_s - Q_{s-1}|``;
with soft limits the (F) rows read ``<= limit + sigma``.

**The endpoint form** (``"endpoint"``, the default): one variable ``Q_N`` per pair with (U), (B),
(R_N) ``-N RD f <= Q_N - Q_0 <= N RU f``, (F) at ``s = N`` only, cost ``c |Q_N - Q_0|``.

*Claim 1 (relaxation).* Every full trajectory gives a feasible ``Q_N`` of no larger cost: (U), (B), (F at N) are
rows of both; summing (R) over the ``N`` steps gives (R_N); and ``|Q_N - Q_0| <= sum_s |Q_s - Q_{s-1}|`` (triangle
inequality, per unit). The endpoint form only drops rows (the intermediate (F)) and lowers the cost, so its
optimum is <= the full form's.

*Claim 2 (the straight line).* For a ``Q_N`` of the endpoint form put ``Q_s = Q_0 + (s/N)(Q_N - Q_0)``. It meets
(U) (``Q_s`` is a convex combination of ``Q_0``, within ``Pmin..Pmax`` — ``Q_0 = P[:, t]`` by the base
limits, ``P'`` by the response rows, the lost unit 0 — and ``Q_N``), (B) (both ends balance ``demand_t``; the
response moves no MW in total), (R) (each step is ``(Q_N - Q_0) / N``, within the box by (R_N)), (F at N)
(``Q_N`` itself); its movement is ``sum_s |Q_N - Q_0| / N = |Q_N - Q_0|``, the endpoint form's cost. Its
intermediate flows are ``F(Q_s) = (1 - s/N) F(Q_0) + (s/N) F(Q_N)`` (``F`` affine). So if every intermediate
row holds for the line, ``(P, lines)`` is feasible for the full form at the endpoint optimum's cost, and by
Claim 1 it is optimal: the **endpoint form is exact exactly when its lines pass** (the check below; a
failing pair gets a full trajectory and the problem is solved again, until no pair fails; a pair with a
full trajectory is a row of the full form, so the model stays a relaxation and the argument repeats).

When the check cannot fail (``a = s/N`` in ``(0, 1)``, ``|F_l(Q_0)| <= E_l + sigma_0`` by the flows-at-the-outage
row, ``|F_l(Q_N)| <= rateA_l + sigma_N`` by the ``s = N`` row, ``sigma`` their slacks, 0 for hard rows and for
rows not held, which screening left within their limit):

    |F_l(Q_s)| <= (1 - a) (E_l + sigma_0) + a (rateA_l + sigma_N) <= E_l + (1 - a) sigma_0 + a sigma_N    if rateA_l <= E_l.

- **Hard limits, rateA <= E** (every branch :func:`.corrective.emergency_ratings` gives: it never returns
  ``E < rateA``): ``sigma = 0``, the line is within ``E``: exact, the fallback never fires.
- **Soft limits, ``soft_slack="branch"``, rateA <= E**: ``sigma_0 = sigma_N = sigma[l, t]``, the one slack
  shared by every relaxed row of branch ``l`` in interval ``t`` (the full form's intermediate row of ``l, t``
  has the same slack), so ``|F_l(Q_s)| <= E_l + sigma[l, t]``: the line meets the full form's intermediate
  rows with the slacks the endpoint optimum already pays: exact, no fallback. (Proved, not assumed: the bound
  needs both ends' slack to be the same variable, which the branch mode gives, and ``rateA <= E``.)
- **Soft limits, ``soft_slack="row"``**: ``sigma_0`` (at the outage) and ``sigma_N`` are different rows' slacks and the
  full form gives each intermediate row its own: the line's intermediate rows need ``(1 - a) sigma_0 + a sigma_N``
  of new slack, which a faster trajectory may avoid. Exact when the pair's rows are not slacked
  (``sigma_0 = sigma_N = 0``); otherwise the check may fail and the pair falls back.
- **A branch with E < rateA** (only through data that bypasses ``emergency_ratings``): the line may exceed
  ``E`` on it (e.g. both ends near ``E`` and ``rateA``); the check may fail and the pair falls back.

The check (:func:`straight_line_failures`) is numpy from the shift factors, independent of the cvxpy model:
per endpoint pair and intermediate step, ``|F_l(Q_s)| <= E_l + allowance + tol`` (``allowance`` = the solved
``sigma[l, t]`` with branch slacks, 0 otherwise), the tolerance relative to ``max(1, E_l)`` as screening's.
The endpoint set is built by the full form's own functions on :func:`endpoint_data`: one step of ``N``
steps' length (ramps x N; its only step is ``s = N``, limit ``rateA``; movement ``|Q_1 - Q_0|``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .data import LascopfData
from .formulation import BuiltProblem
from .rows import Trajectories, outage_flows, pairs_to_correct

__all__ = ["endpoint_data", "straight_line_failures", "to_full_trajectories", "straight_lines", "flows_at_outage"]


def endpoint_data(data: LascopfData) -> LascopfData:
    """``data`` with one restoration step of ``N`` steps' length (ramps x N): the endpoint set's view of the trajectories.

    Shares the cached LODF and generator-outage rows of ``data`` (computed here first, so they exist once).
    """
    cd = data.corrective
    N = cd.steps
    data.monitored_lodf()
    if data.n_gen_outages:
        data.monitored_godf()
    settings = dataclasses.replace(cd.settings, restore_intervals=1, restore_minutes=cd.settings.restore_minutes * N)
    view = dataclasses.replace(cd, settings=settings, ramp_up_step=cd.ramp_up_step * N, ramp_down_step=cd.ramp_down_step * N)
    return dataclasses.replace(data, corrective=view)


def start_dispatch(data: LascopfData, p: np.ndarray, pair_k: np.ndarray, pair_t: np.ndarray) -> np.ndarray:
    """``Q_0`` per pair (n_gen x pairs): ``P[:, t]``, after a generator outage the response ``P'`` (the lost unit at 0)."""
    start = p[:, pair_t]
    lost = np.flatnonzero(pair_k >= data.n_branch_outages)
    if lost.size:
        start[:, lost] = data.gen_outages.response(p, pair_k[lost] - data.n_branch_outages, pair_t[lost])
    return start


def flows_at_outage(data: LascopfData, p: np.ndarray, k: np.ndarray, t: np.ndarray, monitored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair ``(k[j], t[j])``: the flows on ``monitored`` at the outage, under ``Q_0`` (monitored x pairs, MW), and the
    mask of the branches that are not the outaged one (only those rows exist)."""
    flows = outage_flows(data, start_dispatch(data, p, k, t), k, t, monitored)
    return flows, monitored[:, None] != data.outage_branch(k)[None, :]


def straight_lines(data: LascopfData, p: np.ndarray, pair_k: np.ndarray, pair_t: np.ndarray, q_end: np.ndarray) -> np.ndarray:
    """The straight lines ``Q_s = Q_0 + (s/N)(Q_N - Q_0)``, ``s = 1..N`` (n_gen x pairs x N) from the pairs' ``Q_0`` to ``q_end``."""
    N = data.corrective.steps
    start = start_dispatch(data, p, pair_k, pair_t)
    a = np.arange(1, N + 1) / N
    return start[:, :, None] + (q_end - start)[:, :, None] * a[None, None, :]


def _allowance(data: LascopfData, built: BuiltProblem, line: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per (branch ``line``, interval ``t``): the solved shared slack ``sigma[line, t]`` with branch slacks, else 0 (MW)."""
    out = np.zeros(np.broadcast(line, t).shape)
    keys = built.slack_branch_keys
    if data.soft_slack != "branch" or built.slack is None or keys is None or not keys.size:
        return out
    key = (line * data.n_intervals + t).ravel()
    pos = np.minimum(np.searchsorted(keys, key), keys.size - 1)
    found = keys[pos] == key
    sigma = np.asarray(built.slack.value, dtype=float).ravel()
    flat = out.ravel()
    flat[found] = np.maximum(sigma[pos[found]], 0.0)
    return flat.reshape(out.shape)


def straight_line_failures(
    data: LascopfData, built: BuiltProblem, end_data: LascopfData, tol_mw: float, block: int = 1024
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The endpoint pairs whose straight line breaks an intermediate row: (pair mask, and the rows ``l, pair, s`` it breaks).

    ``|F_l(Q_s)| > E_l + allowance + tol_mw max(1, E_l)`` for some ``s = 1..N-1`` (module docstring); ``l``
    the monitored branches but the outaged one. ``data``: the full (N-step) data; ``end_data``: :func:`endpoint_data`.
    """
    ends = built.endpoint
    N = data.corrective.steps
    empty = np.zeros(0, dtype=np.int64)
    if ends is None or ends.q is None or N < 2:
        return np.zeros(0 if ends is None else ends.trajectories.n_pairs, dtype=bool), empty, empty, empty
    traj = ends.trajectories
    values = ends.values(end_data)
    p = np.asarray(built.p.value)
    monitored = data.monitored_branches()
    emergency = data.corrective.emergency[monitored]
    bound = emergency + tol_mw * np.maximum(1.0, emergency)
    failed = np.zeros(traj.n_pairs, dtype=bool)
    out_l, out_pair, out_s = [], [], []
    for start in range(0, traj.n_pairs, block):
        pairs = np.arange(start, min(start + block, traj.n_pairs))
        k, t = traj.pair_k[pairs], traj.pair_t[pairs]
        f0, not_self = flows_at_outage(data, p, k, t, monitored)
        fn = outage_flows(data, values.columns(pairs), k, t, monitored)
        allowed = bound[:, None] + _allowance(data, built, monitored[:, None], t[None, :])
        for s in range(1, N):
            a = s / N
            over = (np.abs((1 - a) * f0 + a * fn) > allowed) & not_self
            row_i, col_i = np.nonzero(over)
            out_l.append(monitored[row_i])
            out_pair.append(pairs[col_i])
            out_s.append(np.full(row_i.size, s))
            failed[pairs[col_i]] = True
    line, pair, s = (np.concatenate(v).astype(np.int64) if v else empty for v in (out_l, out_pair, out_s))
    return failed, line, pair, s


def to_full_trajectories(
    data: LascopfData, endpoints: Trajectories, full: Trajectories, failed: np.ndarray, rows: tuple, every: Trajectories | None = None
) -> tuple[Trajectories, Trajectories]:
    """Move the ``failed`` endpoint pairs to the full set: their ``s = N`` rows, the intermediate ``rows`` (``l, pair, s``)
    their line broke; with ``every`` (the extensive form's :func:`.rows.all_trajectories`) every row of theirs instead."""
    K, T, N = data.n_outages, data.n_intervals, data.corrective.steps
    if not failed.any():
        return endpoints, full
    moved_k, moved_t = endpoints.pair_k[failed], endpoints.pair_t[failed]
    if every is not None:
        lookup = np.zeros(K * T, dtype=bool)
        lookup[moved_k * T + moved_t] = True
        keep = lookup[every.pair_k * T + every.pair_t]
        mine = every.select_pairs(keep)
        grown = full.add(K, T, mine.pair_k, mine.pair_t, mine.l, mine.row_k(), mine.row_t(), mine.s)
    else:
        at_end = failed[endpoints.pair]
        line_break, pair_break, s_break = rows
        line = np.concatenate([endpoints.l[at_end], line_break])
        pair = np.concatenate([endpoints.pair[at_end], pair_break])
        s = np.concatenate([np.full(int(at_end.sum()), N), s_break])
        grown = full.add(K, T, moved_k, moved_t, line, endpoints.pair_k[pair], endpoints.pair_t[pair], s)
    return endpoints.select_pairs(~failed), grown


def new_pairs(
    data: LascopfData, end_data: LascopfData | None, flows: np.ndarray, tol_mw: float, full: Trajectories,
    endpoints: Trajectories | None, dispatch: np.ndarray, max_new: int | None, violations: list | None = None,
) -> tuple[Trajectories, Trajectories | None]:
    """Screening's new pairs (:func:`.rows.pairs_to_correct`): into the endpoint set (rows at its one step) when there is one."""
    if endpoints is None:
        return pairs_to_correct(data, flows, tol_mw, full, dispatch, max_new=max_new, violations=violations), None
    grown = pairs_to_correct(end_data, flows, tol_mw, endpoints, dispatch, held_elsewhere=full, max_new=max_new,
                             violations=violations)
    return full, grown
