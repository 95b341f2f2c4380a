"""The fast exact method: outer approximation over groups of hours and phases, with cut generation.

Why it is exact. After normalizing by ``mean[t]`` (fixed), the objective is
``f(y) = sum_t max_p |d[t, p](y)|``, ``d`` affine in ``y``, the binary move vector (2 per
junction: only the moves, at most K of them, are decisions). A move shifts load from one
phase to another, so ``sum_p d[t, p](y) = 0`` for every ``y`` (fractional too), and by the
lemma of :mod:`~lascopf_assets.lib.phase_balance.linearization`
``max_p |d[t, p]| = (|d[t, A]| + |d[t, B]| + |d[t, C]|) / 2``. Group the hours into ``G``
groups and let ``theta_{g,p}`` stand for the term ``f_{g,p}(y) = 1/2 sum_{t in g} |d[t, p](y)|``,
so ``f = sum_{g,p} f_{g,p}``. For any signs ``s_t`` in {+1, -1},
``f_{g,p}(y) >= 1/2 sum_{t in g} s_t d[t, p](y)``, an affine cut in ``y``. So the master MILP
``min sum_{g,p} theta_{g,p}`` over any set of such cuts is a relaxation and its proven
bound is a valid lower bound on the optimum. Evaluating the true ``f`` at the
master's solution gives an upper bound. At a master solution ``y^`` the cut with
``s_t`` = the sign of ``d[t, p](y^)`` is tight (equals ``f_{g,p}(y^)``); it is
added for every term whose ``theta_{g,p}`` underestimates ``f_{g,p}(y^)``. A master
solution that violates no cut has ``theta = f(y^)`` term by term, so the master's
optimum equals a true objective value and the bounds meet. The feasible set
is finite and a visited point never violates again, so the loop terminates.

Why per phase. At any one point the best cut of a group, ``sum_t max_p |d[t, p]|``, and the
best cuts of its three phase terms, ``1/2 sum_p sum_t |d[t, p]|``, give the same value (the
lemma). Across points the phase terms are freer: the master combines the cuts of different
candidates phase by phase, not only group by group, so the same cuts bound the fractional
points more tightly (measured: the demo zone's K = 7 bound after 30 s 143 instead of 124; the
synthetic generator's K = 8 proven in 12 s instead of 16 s; the LV feeder's K = 5 in 14 s
instead of 20 s).

Why fractional points too. Each ``f_{g,p}`` is convex in ``y`` (a sum of absolute values of affine
functions), so the cut with the signs of ``d[t, p]`` at a *fractional* ``y`` is a subgradient row:
tight there and below ``f_{g,p}`` everywhere. Cutting the LP points of the tree's nodes, not only
its integral candidates, lifts each node's bound to the true convex terms over the node's box
(the rows made at integral candidates alone leave it below). Near balance the bound is the whole
difficulty: the demo zone's K = 7 was proven in 554 s with cuts at integral candidates only, and
is proven in 43-55 s with these (``fractional_cuts=False`` restores the former).

Two ways to run it. ``solver="scip"`` (default): a single branch-and-bound tree
in SCIP whose constraint handler evaluates ``f`` at every integral candidate and
adds the violated term cuts on the spot, and cuts the nodes' fractional LP points
once per node (:mod:`.branch_and_cut`).
``solver="highs"``: HiGHS has no lazy-constraint callback, so the master is
re-solved after each round of cuts (:mod:`.master`); same bounds, slower.

What makes it fast: ``2J`` binaries and ``3G`` continuous variables (``G`` = 4 by default:
:func:`default_group_count`) instead of 8760 x (3 aggregates + 3 absolute values
+ 1 max); the first cuts (two per term, the same sign in every hour of the group: the
"aggregated model") plus the cuts at the current assignment and at a
local-search incumbent; only violated cuts are added, all of one point's
cuts come from one dense product per group (the hours sorted by group); hours are grouped by k-means on their
normalized load shares and initial deviations. Few groups keep every LP tiny;
the cuts at integral candidates keep the master exact where it matters.
Work is reused across K on the trade-off curve (cuts are valid for every K,
the K-1 optimum is feasible for K).
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy.cluster.vq import kmeans2

from lascopf_assets.lib.phase_balance.branch_and_cut import branch_and_cut, check_scip_params
from lascopf_assets.lib.phase_balance.local_search import improve
from lascopf_assets.lib.phase_balance.master import check_highs_options, make_master
from lascopf_assets.lib.phase_balance.metric import NormalizedLoads
from lascopf_assets.lib.phase_balance.neighbourhood import NEIGHBOURHOOD_JUNCTIONS, search_neighbourhoods
from lascopf_assets.lib.phase_balance.problem import PhaseBalanceProblem
from lascopf_assets.lib.phase_balance.result import PhaseBalanceResult, changes_between, fewest_changes_relabeling
from lascopf_assets.lib.solver_status import ERROR, OPTIMAL, TIME_LIMIT, SolverOutcome

SOLVERS = ("scip", "highs")


def hour_groups(norm: NormalizedLoads, n_groups: int, seed: int = 0) -> np.ndarray:
    """Group id per kept hour: k-means on the leading principal components of the load shares."""
    T = norm.l.shape[1]
    n_groups = int(min(max(n_groups, 1), T))
    if n_groups >= T:
        return np.arange(T)
    features = norm.l.T - norm.l.T.mean(axis=0)
    k = min(12, features.shape[1], T)
    # principal components via the small (J x J) Gram matrix
    gram = features.T @ features
    w, v = np.linalg.eigh(gram)
    proj = features @ v[:, ::-1][:, :k]
    proj = np.hstack([proj, norm.d0])  # the initial deviations matter most
    rng = np.random.default_rng(seed)
    _, labels = kmeans2(proj, n_groups, seed=rng, minit="++", iter=20)
    # drop empty clusters
    _, labels = np.unique(labels, return_inverse=True)
    return labels


SPIKY_SHARE_VARIATION = 1.0
"""Above this :func:`share_variation` the loads are spiky (single households minute by minute) and SCIP
gets :data:`SPIKY_SCIP_PARAMS`; at or below it, SCIP's settings of :func:`~.branch_and_cut.branch_and_cut`.
Set between the instances it was measured on: the demo zone (0.12) and the synthetic generator (0.45),
both 40 x 8760 hourly, and the IEEE European LV feeder at 1-minute resolution (1.38)."""
DEFAULT_GROUPS = 4
SPIKY_SCIP_PARAMS = {"constraints/knapsack/propfreq": -1}
# No propagation of the cardinality row (sum y <= K, a knapsack to SCIP): the LP enforces it anyway. Measured
# with one theta per group (before the per-phase terms), over 3-4 random seeds of SCIP: the LV feeder's K = 5
# (200 groups) 20-21 s instead of 25-31 s; but the demo zone's K = 6 (12 groups) 4.9-5.4 s instead of
# 3.7-4.1 s (the synthetic K = 7: 7.4-7.9 s instead of 8.1-8.7 s), so steady loads keep it. With the
# per-phase terms and 40 groups the LV feeder's K = 5 takes 14 s instead of 17 s.


def share_variation(norm: NormalizedLoads) -> float:
    """How much the junctions' shares of the load swing from interval to interval.

    ``sum_j std_t(l[j, t]) / sum_j mean_t(l[j, t])`` over the normalized loads: the load-weighted
    coefficient of variation of each junction's share (0 when every junction carries a fixed share;
    junctions without load count for nothing)."""
    total = float(norm.l.mean(axis=1).sum()) if norm.l.size else 0.0
    return float(norm.l.std(axis=1).sum()) / total if total > 0 else 0.0


def spiky(norm: NormalizedLoads) -> bool:
    return share_variation(norm) > SPIKY_SHARE_VARIATION


def default_group_count(norm: NormalizedLoads) -> int:
    """Groups of the master when none are asked for: :data:`DEFAULT_GROUPS` (never more than T).

    Few groups give small LPs and high node throughput, and the cuts added at integral candidates make
    the master exact there anyway; more groups tighten the bound at fractional points. With SCIP's cuts
    at fractional LP points few groups win on every instance measured: the IEEE European LV feeder at
    1-minute resolution (spiky loads), K = 5 alone in 7.6 s with 4 groups against 21.0 s with 40, and
    along the curve at 10 s per K all of K = 0..5 proven in 10 s and K = 6..9 at 3.5-12.6 % gaps with 4
    groups against K = 5..9 at 4.5-16.3 % with 40; the demo zone's K = 7 bound after 60 s 168.1 with 4
    groups, 166.1 with 12 and 158.9 with 40. Before the fractional cuts spiky loads got 40 groups.
    Measured before the fractional cuts, with the per-phase terms (SCIP, one balancer along the curve,
    30 s for the last K):
    - hourly 40 x 8760, demo zone, K = 6 / the K = 7 gap after 30 s: 1 group 1.1 s / 19.7 %, 2 groups
      1.0 s / 22.5 %, 4 groups 1.4 s / 22.4 %, 6 groups 1.8 s / 25.4 %, 12 groups 2.7 s / 25.8 %, 24
      groups 5.5 s / 31 %; the synthetic generator, K = 0..8 (all proven): 1 group 15.5 s, 2 groups
      13.6 s, 4 groups 14.2 s, 6 groups 15.0 s, 8 groups 15.8 s, 12 groups 21.4 s;
    - the IEEE European LV feeder at 1-minute resolution (55 x 1,440), K = 0..5 (all proven): 15 groups
      20.1 s, 20 groups 19.9 s, 30 groups 17.5 s, 40 groups 19.1 s, 50 groups 19.6 s, 67 groups 21.6 s,
      100 groups 28.3 s, 200 groups 44.8 s; 12 groups with one theta per group (the method before the
      per-phase terms) left K = 5 at a 6-9 % gap after 30-60 s.
    """
    T = norm.l.shape[1]
    return int(min(T, DEFAULT_GROUPS))


class ExactPhaseBalancer:
    """Holds the normalized data, the hour groups, the master and the cut pool across solves."""

    def __init__(self, problem: PhaseBalanceProblem, solver: str = "scip", n_groups: int | None = None,
                 seed: int = 0, solver_options: dict | None = None, fractional_cuts: bool = True,
                 use_neighbourhood_search: bool = True) -> None:
        """``solver_options``: SCIP parameters or HiGHS options, passed to the solver as they are (SCIP's
        override :data:`SPIKY_SCIP_PARAMS`); ``n_groups``: None for :func:`default_group_count`;
        ``fractional_cuts``: SCIP's tree also cuts fractional LP points (see :mod:`.branch_and_cut`);
        ``use_neighbourhood_search``: the unlimited setting's neighbourhood search (False: one tree without
        fractional cuts, the method before the search, for comparison)."""
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
        self.problem = problem
        self.solver = solver
        self.seed = seed
        self.solver_options = dict(solver_options or {})
        if solver == "scip":  # refuse bad names now, not at the first solve
            check_scip_params(self.solver_options)
        else:
            check_highs_options(self.solver_options)
        self.norm = NormalizedLoads.from_problem(problem)
        self.spiky = spiky(self.norm)
        self.scip_params = {**(SPIKY_SCIP_PARAMS if self.spiky else {}), **self.solver_options}
        J = problem.n_junctions
        p0 = problem.initial_phase
        self.move_junction = np.repeat(np.arange(J), 2)
        self.move_target = (p0[self.move_junction] + 1 + np.tile([0, 1], J)) % 3
        T = self.norm.l.shape[1]
        self.groups = hour_groups(self.norm, n_groups or default_group_count(self.norm), seed) if T else np.zeros(0, int)
        self.n_groups = int(self.groups.max()) + 1 if T else 0
        self.n_terms = 3 * self.n_groups  # theta_{g,p} at index 3 g + p
        # (3G, 2J): +1 where move m puts its junction on phase p, -1 where it takes it off
        p_of_term = np.tile(np.arange(3), self.n_groups)[:, None]
        self._move_effect = ((p_of_term == self.move_target[None, :]).astype(np.float64)
                             - (p_of_term == p0[self.move_junction][None, :]))
        # the hours sorted by group, so that each group is one block of rows (cuts by dense block products)
        self._hour_order = np.argsort(self.groups, kind="stable")
        self._block_starts = np.searchsorted(self.groups[self._hour_order], np.arange(self.n_groups))
        self._block_ends = np.append(self._block_starts[1:], T)
        # Arrays "by group" hold the hours in group order; per-phase ones are (3, T), phase-major: the products
        # of the separation are then (2 or 3) x J x T with T contiguous, which OpenBLAS does 2-4x faster than
        # the same products with a (T, 3) operand (0.05 ms instead of 0.22 ms at 40 x 8760).
        self._l_by_group = np.ascontiguousarray(self.norm.l[:, self._hour_order])  # (J, T)
        self._lT_by_group = np.ascontiguousarray(self._l_by_group.T)  # (T, J)
        self._load_by_group = self._l_by_group.sum(axis=0)  # (T,): sum_j l[j, t] (3 up to rounding)
        self._d0_by_group = np.ascontiguousarray(self.norm.d0[self._hour_order].T)  # (3, T)
        self._targets = self.move_target.reshape(J, 2)  # junction j's moves are 2 j and 2 j + 1
        self.fractional_cuts = fractional_cuts
        self.use_neighbourhood_search = use_neighbourhood_search
        self._pooled_points: set[bytes] = set()  # assignments whose tight rows are in the pool
        self.master = None
        self.pool: list = []
        self.initial_imbalance = self.norm.objective(p0)
        self.best_x = p0.copy()
        self.best_value = self.initial_imbalance
        self._K_built = None
        self.iterations = 0
        self.n_lazy_cuts = 0
        self.n_fractional_cuts = 0
        self.neighbourhood_search = None  # what the last unlimited solve's neighbourhood search did

    # --- conversions -------------------------------------------------------------------------
    def to_assignment(self, y: np.ndarray) -> np.ndarray:
        x = self.problem.initial_phase.copy()
        on = np.flatnonzero(np.asarray(y) > 0.5)
        x[self.move_junction[on]] = self.move_target[on]
        return x

    def to_moves(self, x: np.ndarray) -> np.ndarray:
        return (x[self.move_junction] == self.move_target).astype(np.int64)

    def term_values(self, x: np.ndarray) -> np.ndarray:
        """``f_{g,p}(x) = 1/2 sum_{t in g} |d[t, p](x)|`` at index ``3 g + p``; they sum to the imbalance."""
        return self._block_sums(0.5 * np.abs(self.norm.deviations(x)[self._hour_order].T))

    def _block_sums(self, per_phase_hour: np.ndarray) -> np.ndarray:
        """Sums over each group's hours of a ``(3, T)`` array whose hours are in group order, at index ``3 g + p``."""
        return np.add.reduceat(per_phase_hour, self._block_starts, axis=1).T.reshape(-1)

    # --- cuts --------------------------------------------------------------------------------
    def _cuts(self, signs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients (3G, 2J) and constants (3G,) of ``1/2 sum_{t in g} s[t, p] d[t, p](y)``, ``signs`` (T, 3)."""
        return self._cuts_by_group(np.ascontiguousarray(signs[self._hour_order].T))

    def _cuts_by_group(self, s: np.ndarray, groups=None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_cuts` for signs ``(3, T)`` whose hours are in group order (``s[:, i]`` is hour
        ``_hour_order[i]``), for the terms of ``groups`` only (all when None; rows ``3 g + p`` for each listed
        ``g`` in turn).

        ``d[t, p](y) = d0[t, p] + sum_m y_m l[j_m, t] ([p = target_m] - [p = p0_m])``: move ``m`` puts junction
        ``j_m`` on its target phase and takes it off its initial one. So the coefficient of ``y_m`` in term
        ``(g, p)`` is ``A[3g+p, j_m] ([p = target_m] - [p = p0_m])`` with ``A[3g+p, j] = 1/2 sum_{t in g}
        s[t, p] l[j, t]``: one dense (3 x |g|) x (|g| x J) product per group."""
        groups = range(self.n_groups) if groups is None else groups
        A = np.empty((len(groups), 3, self._l_by_group.shape[0]))
        for i, g in enumerate(groups):
            a, b = self._block_starts[g], self._block_ends[g]
            np.matmul(s[:, a:b], self._lT_by_group[a:b], out=A[i])
        rows = self._terms_of(groups)
        coef = 0.5 * A.reshape(len(rows), -1)[:, self.move_junction] * self._move_effect[rows]
        return coef, self._block_sums(0.5 * s * self._d0_by_group)[rows]

    @staticmethod
    def _terms_of(groups) -> np.ndarray:
        """The term indices ``3 g + p`` of ``groups``, group by group."""
        return (3 * np.asarray(groups, dtype=np.int64)[:, None] + np.arange(3)).ravel()

    def cuts_at(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per term: the cut tight at ``x`` (coefficients, constant) and the true value ``f_{g,p}(x)``."""
        return self.cuts_at_moves(self.to_moves(x))

    def cuts_at_moves(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`cuts_at` for moves ``y`` in [0, 1], fractional too: each term is convex in ``y``, so the row
        tight at a fractional point (a subgradient there) is valid everywhere as well."""
        d = self._deviations_by_group(y)
        coef, const = self._cuts_by_group(np.where(d >= 0, 1.0, -1.0))
        return coef, const, self._block_sums(0.5 * np.abs(d))

    def violated_cuts_at_moves(self, y: np.ndarray, theta: np.ndarray, tol_rel: float):
        """The terms where ``f_{g,p}(y) - theta > tol_rel max(1, f_{g,p}(y))``, with their rows tight at ``y``
        (as :meth:`cuts_at_moves`, computed for the groups of those terms only): ``(terms, coef, const)``."""
        d = self._deviations_by_group(y)
        values = self._block_sums(0.5 * np.abs(d))
        violated = values - theta > tol_rel * np.maximum(1.0, values)
        groups = np.flatnonzero(violated.reshape(-1, 3).any(axis=1))  # term 3 g + p: phases of a group adjacent
        if not len(groups):
            return np.zeros(0, dtype=np.int64), np.zeros((0, len(self.move_junction))), np.zeros(0)
        coef, const = self._cuts_by_group(np.where(d >= 0, 1.0, -1.0), groups)
        rows = self._terms_of(groups)
        keep = violated[rows]
        return rows[keep], coef[keep], const[keep]

    def _deviations_by_group(self, y: np.ndarray) -> np.ndarray:
        """``d[p, t](y)`` for moves ``y`` in [0, 1], ``(3, T)`` with the hours in group order.

        ``d[p] = sum_j share[j, p] l[j] - 1`` with ``share[j, p]`` the part of junction ``j`` on phase ``p``;
        the shares of a junction sum to 1, so ``d[C] = sum_j l[j] - d[A] - d[B] - 3``: two rows by product."""
        y = np.asarray(y, dtype=np.float64).reshape(-1, 2)
        J = len(y)
        rows = np.arange(J)
        share = np.zeros((J, 3))
        share[rows, self.problem.initial_phase] = 1.0 - y[:, 0] - y[:, 1]
        share[rows, self._targets[:, 0]] = y[:, 0]
        share[rows, self._targets[:, 1]] = y[:, 1]
        d = np.empty((3, self._l_by_group.shape[1]))
        np.matmul(np.ascontiguousarray(share[:, :2].T), self._l_by_group, out=d[:2])
        np.subtract(self._load_by_group, d[0], out=d[2])
        d[2] -= d[1]
        d -= 1.0
        return d

    def _add_cuts(self, terms, coef, const) -> None:
        self.pool.append((np.asarray(terms), coef, const))
        if self.master is not None:
            self.master.add_cuts(terms, coef, const)

    def _initial_cuts(self) -> None:
        T = len(self.groups)
        for sign in (1.0, -1.0):  # aggregated model: one sign for all hours of a group
            coef, const = self._cuts(np.full((T, 3), sign))
            self._add_cuts(np.arange(self.n_terms), coef, const)
        coef, const, _ = self.cuts_at(self.problem.initial_phase)
        self._add_cuts(np.arange(self.n_terms), coef, const)
        self._pooled_points.add(self.problem.initial_phase.tobytes())

    def offer(self, x: np.ndarray, value: float | None = None) -> None:
        """Record ``x`` as the incumbent if it is better (``value``: its true objective, if known)."""
        if value is None:
            value = self.norm.objective(x)
        if value < self.best_value:
            self.best_value, self.best_x = value, x.copy()

    # --- solve -------------------------------------------------------------------------------
    def solve(self, max_changes: int, time_limit: float | None = None, gap_tolerance: float = 1e-6,
              local_search: bool = True, keep: np.ndarray | None = None) -> PhaseBalanceResult:
        """The best assignment with at most ``max_changes`` changes and its proven bound.

        ``keep``: junctions that keep their phase in the incumbent this solve starts from (the best
        assignment so far, or the current one where that has too many changes); the solve is then exact
        over the other junctions. The unlimited setting (``max_changes`` >= junctions, nothing kept) with more
        junctions than a neighbourhood (:data:`~.neighbourhood.NEIGHBOURHOOD_JUNCTIONS`) first spends
        :data:`UNLIMITED_SEARCH_SHARE` of ``time_limit`` on the exact neighbourhood search of
        :mod:`.neighbourhood` from the incumbent, then proves what it can in one tree with fractional cuts
        (its bound; the search's assignment is its incumbent)."""
        if max_changes < 0:
            raise ValueError(f"max_changes must be >= 0, got {max_changes}")
        t0 = time.perf_counter()
        deadline = t0 + (time_limit if time_limit is not None else math.inf)
        p0 = self.problem.initial_phase
        J = self.problem.n_junctions
        kept = np.zeros(J, dtype=bool)
        if keep is not None:
            kept[np.asarray(keep, dtype=np.int64)] = True
        if np.count_nonzero(self.best_x != p0) > max_changes:
            self.best_x, self.best_value = p0.copy(), self.initial_imbalance
        if keep is None:
            self.neighbourhood_search = None
        if self.n_groups == 0:  # every hour has zero load
            return self._result(SolverOutcome(OPTIMAL), max_changes, 0.0, t0)
        if local_search:
            x_ls, _ = improve(self.norm, self.best_x, max_changes, deadline=deadline, movable=~kept)
            self.offer(x_ls)
        unlimited = max_changes >= J and not kept.any()
        search = self.use_neighbourhood_search and unlimited and J > NEIGHBOURHOOD_JUNCTIONS
        if search:
            self._search_neighbourhoods(max_changes, t0 + UNLIMITED_SEARCH_SHARE * (deadline - t0), gap_tolerance)
        if not self.pool:
            self._initial_cuts()
        self._cut_at_incumbent()
        kept_moves = kept[self.move_junction]
        incumbent_moves = self.to_moves(self.best_x)
        fixed_zero = np.flatnonzero(kept_moves & (incumbent_moves == 0))
        fixed_one = np.flatnonzero(kept_moves & (incumbent_moves == 1))
        if self.solver == "scip":
            outcome, lower = self._solve_branch_and_cut(max_changes, deadline, gap_tolerance, fixed_zero,
                                                        fixed_one, separate_fractional=not unlimited or search)
        else:
            outcome, lower = self._solve_iterative(max_changes, deadline, gap_tolerance, fixed_zero, fixed_one)
        return self._result(outcome, max_changes, lower, t0)

    def _cut_at_incumbent(self) -> None:
        """Pool the rows tight at the incumbent, once per incumbent (a search re-solves with the same one often)."""
        key = self.best_x.tobytes()
        if key not in self._pooled_points:
            self._pooled_points.add(key)
            coef, const, _ = self.cuts_at(self.best_x)
            self._add_cuts(np.arange(self.n_terms), coef, const)

    def _search_neighbourhoods(self, max_changes: int, deadline: float, gap_tolerance: float) -> None:
        """Improve the incumbent by :func:`~.neighbourhood.search_neighbourhoods` until ``deadline``: each step
        solves ``max_changes`` with all junctions but a random few kept on their incumbent phases."""
        def solve_neighbourhood(fixed, seconds):
            result = self.solve(max_changes, seconds, gap_tolerance, keep=fixed)
            return result.status, self.best_x, self.best_value

        self.neighbourhood_search = search_neighbourhoods(self.problem.n_junctions, self.best_x, self.best_value,
                                                          solve_neighbourhood, deadline, NEIGHBOURHOOD_JUNCTIONS,
                                                          seed=self.seed)
        self.offer(self.neighbourhood_search.assignment, self.neighbourhood_search.imbalance)

    def symmetry_breaking(self, max_changes: int) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
        """Moves that may be fixed to 0 without losing an optimum, and the relabeling rule behind them.

        Only when the cap cannot bind (``max_changes >= junctions``, the unlimited setting): the metric is
        symmetric in the three phases, so every assignment has a relabeling that keeps the largest junction
        ``j1`` on its phase ``a`` (both of its moves fixed to 0), and of the two relabelings that do, one keeps
        the second-largest junction ``j2`` off phase ``c`` (its move to ``c`` fixed to 0; ``c`` is the phase
        other than ``a`` and ``j2``'s own, or ``a + 2`` when ``j2`` is on ``a``). A relabeling never breaks the
        cap here, so the optimum over the fixed set is the optimum. Returns ``(moves, (j1, a, j2, c))``.
        """
        J = self.problem.n_junctions
        if max_changes < J or J < 2:
            return np.zeros(0, dtype=np.int64), None
        p0 = self.problem.initial_phase
        order = np.argsort(-self.norm.l.sum(axis=1), kind="stable")
        j1, j2 = int(order[0]), int(order[1])
        a = int(p0[j1])
        c = (a + 2) % 3 if p0[j2] == a else 3 - a - int(p0[j2])
        moves = np.flatnonzero((self.move_junction == j1) | ((self.move_junction == j2) & (self.move_target == c)))
        return moves, (j1, a, j2, c)

    @staticmethod
    def canonical(x: np.ndarray, rule: tuple[int, int, int, int] | None) -> np.ndarray:
        """The relabeling of ``x`` that satisfies :meth:`symmetry_breaking`'s fixings (same imbalance)."""
        if rule is None:
            return x
        j1, a, j2, c = rule
        perm = np.arange(3)
        perm[[x[j1], a]] = perm[[a, x[j1]]]  # swap so that j1 lands on a
        x = perm[x]
        if x[j2] == c:
            b = 3 - a - c
            perm = np.arange(3)
            perm[[b, c]] = [c, b]
            x = perm[x]
        return x

    def _solve_branch_and_cut(self, max_changes, deadline, gap_tolerance, fixed_zero, fixed_one,
                              separate_fractional: bool) -> tuple[SolverOutcome, float]:
        """One SCIP tree for ``max_changes`` with the moves ``fixed_zero`` fixed to 0 and ``fixed_one`` to 1
        (none: our symmetry breaking in the unlimited setting); fractional LP points are cut if
        ``separate_fractional`` (and the balancer's ``fractional_cuts``).

        In the unlimited setting every junction a third on each phase balances every hour, so no cut lifts
        the bound of a node with many free junctions, and cutting fractional points slows the tree's search
        for assignments down. Measured (120 s, standalone): the demo zone 345.5 with fractional cuts (bound
        67.9) against 186.3 without (bound 5.5); the synthetic instance 542.1 (bound 100.0) against 196.1
        (bound 46.4). So :meth:`solve` cuts them there only once the neighbourhood search has found the
        assignment: the tree is then for the bound."""
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return SolverOutcome(TIME_LIMIT, "no time left for SCIP after the local search"), 0.0
        rule = None
        if not len(fixed_zero) and not len(fixed_one):
            fixed_zero, rule = self.symmetry_breaking(max_changes)
        start = self.canonical(self.best_x, rule)
        outcome = branch_and_cut(
            self, max_changes, list(self.pool), self.to_moves(start),
            self.term_values(start) * (1 + 1e-9) + 1e-12, min(remaining, 1e9), gap_tolerance * 0.5,
            params=self.scip_params, fixed_zero=fixed_zero, fixed_one=fixed_one,
            separate_fractional=self.fractional_cuts and separate_fractional,
        )
        self.iterations += 1
        self.n_lazy_cuts += outcome.n_cuts
        self.n_fractional_cuts += outcome.n_fractional_cuts
        if outcome.best_y is not None:
            self.offer(self.to_assignment(outcome.best_y))
        lower = min(outcome.bound, self.best_value)
        if self._proven(lower, gap_tolerance):
            return SolverOutcome(OPTIMAL), lower
        if outcome.outcome.status == OPTIMAL:  # SCIP's optimum is not within the gap of the true values
            return self._gap_left(outcome.outcome.reason or "SCIP status 'optimal'", lower), lower
        return outcome.outcome, lower

    def _proven(self, lower: float, gap_tolerance: float) -> bool:
        return self.best_value - lower <= gap_tolerance * self.best_value + 1e-12

    def _gap_left(self, said: str, lower: float) -> SolverOutcome:
        """The master has nothing left to cut but its bound is below the incumbent: numerical trouble."""
        return SolverOutcome(
            ERROR,
            f"{said}, yet its bound {lower:.9g} is below the best imbalance {self.best_value:.9g} "
            f"and no group cut is violated (numerical tolerance)",
        )

    def _solve_iterative(self, max_changes, deadline, gap_tolerance, fixed_zero, fixed_one) -> tuple[SolverOutcome, float]:
        if self.master is None:
            self.master = make_master(self.solver, self.move_junction, self.n_terms, max_changes,
                                      self.solver_options)
            for terms, coef, const in self.pool:
                self.master.add_cuts(terms, coef, const)
        else:
            self.master.set_max_changes(max_changes)
        self.master.fix_moves(fixed_zero, fixed_one)
        lower = 0.0
        outcome = SolverOutcome(TIME_LIMIT, "no time left for HiGHS after the local search")
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            start_y = self.to_moves(self.best_x)
            start_theta = self.term_values(self.best_x) * (1 + 1e-9) + 1e-12
            sol = self.master.solve(min(remaining, 1e9), gap_tolerance * 0.5, start_y, start_theta)
            self.iterations += 1
            outcome = sol.outcome
            if outcome.status not in (OPTIMAL, TIME_LIMIT):
                break  # HiGHS failed: its bound and solution mean nothing
            lower = max(lower, min(sol.bound, self.best_value))
            new_cuts = 0
            if sol.has_solution:
                x_hat = self.to_assignment(sol.y)
                coef, const, values = self.cuts_at(x_hat)
                self.offer(x_hat)
                violated = np.flatnonzero(values > sol.theta + 1e-9 * np.maximum(1.0, values))
                self._add_cuts(violated, coef[violated], const[violated])
                new_cuts = len(violated)
            if self._proven(lower, gap_tolerance):
                outcome = SolverOutcome(OPTIMAL)
                break
            if outcome.status == TIME_LIMIT:
                break
            if new_cuts == 0:
                outcome = self._gap_left(outcome.reason or "HiGHS status 'Optimal'", lower)
                break
        return outcome, lower

    def _result(self, outcome: SolverOutcome, max_changes: int, lower: float, t0: float) -> PhaseBalanceResult:
        """The incumbent with its bound; after a solver error the bound is only what was proven before."""
        # the metric is symmetric in the phases: report the relabeling that needs the fewest visits
        x = fewest_changes_relabeling(self.problem.initial_phase, self.best_x).copy()
        value = self.best_value
        return PhaseBalanceResult(
            unlimited=max_changes >= self.problem.n_junctions,
            status=outcome.status,
            reason=outcome.reason,
            max_changes=max_changes,
            initial_imbalance=self.initial_imbalance,
            imbalance=value,
            bound=min(lower, value),
            assignment=x,
            changes=changes_between(self.problem, x),
            solve_seconds=time.perf_counter() - t0,
            method="fast",
            solver=self.solver,
            skipped_hours=list(self.problem.timestamps[self.norm.skipped_hours]),
            iterations=self.iterations,
            n_cuts=sum(len(c[0]) for c in self.pool) + self.n_lazy_cuts + self.n_fractional_cuts,
            neighbourhood_search=None if self.neighbourhood_search is None else self.neighbourhood_search.counts(),
        )


UNLIMITED_SEARCH_SHARE = 0.75
"""Of an unlimited solve's time limit, what the neighbourhood search may use before the tree proves a bound.
Measured on the demo zone (40 x 8760): the search reached 179.4 after 60 s and 178.0 after 100 s; the tree
with fractional cuts raised its bound to 61.3 in 20 s and 65.7 in 60 s."""


def solve_fast(problem: PhaseBalanceProblem, max_changes: int, solver: str = "scip",
               time_limit: float | None = None, gap_tolerance: float = 1e-6,
               n_groups: int | None = None, solver_options: dict | None = None) -> PhaseBalanceResult:
    """Minimize the imbalance with at most ``max_changes`` changes, exactly (up to ``gap_tolerance``)."""
    balancer = ExactPhaseBalancer(problem, solver, n_groups, solver_options=solver_options)
    return balancer.solve(max_changes, time_limit, gap_tolerance)


def tradeoff_curve(problem: PhaseBalanceProblem, k_max: int, solver: str = "scip",
                   time_limit: float | None = None, gap_tolerance: float = 1e-6,
                   n_groups: int | None = None, solver_options: dict | None = None) -> list[PhaseBalanceResult]:
    """Optimal imbalance for K = 0..k_max, sharing the cut pool and incumbents between K (one ``time_limit``
    for them all, spent as :func:`solve_with_curve` spends it)."""
    if k_max < 0:
        raise ValueError(f"k_max must be >= 0, got {k_max}")
    balancer = ExactPhaseBalancer(problem, solver, n_groups, solver_options=solver_options)
    return solve_with_curve(balancer, k_max, k_max, time_limit, gap_tolerance)[1]


CURVE_FLOOR_SHARE = 0.5
"""What each K still to come keeps back of a curve's budget, as a fraction of an equal share (the asked-for K
keeps a whole equal share): enough for its local search and a short tree, so that it gets an honest bound."""


def solve_with_curve(balancer: ExactPhaseBalancer, max_changes: int, curve_max_changes: int | None,
                     time_limit: float | None, gap_tolerance: float = 1e-6) -> tuple[PhaseBalanceResult, list[PhaseBalanceResult] | None]:
    """The result for ``max_changes`` and the trade-off curve K = 0..``curve_max_changes`` (None: no curve).

    One solver object serves every K, in increasing order (cuts and incumbents carry over; the K-1
    optimum is feasible for K). ``time_limit`` is one budget for them all: each K may use what is left
    of it but a floor kept back for every K still to come (:func:`curve_floors`: half an equal share, a whole
    one for the asked-for ``max_changes``). Why not equal shares: the time to a proof grows steeply with K
    near balance, so the first K that an equal share does not prove is the one more time can prove, and the
    K after it would not be proven in their shares either. Measured on the demo zone (40 x 8760): K = 6
    in 2 s, K = 7 in 32-58 s, K = 8 still at a 6.1 % gap after 500 s; under one 120 s budget equal shares
    gave K = 7 about 29 s.
    """
    ks = sorted(set(range(curve_max_changes + 1) if curve_max_changes is not None else []) | {max_changes})
    floors = curve_floors(ks, max_changes, time_limit)
    deadline = None if time_limit is None else time.perf_counter() + time_limit
    solved = {}
    for i, k in enumerate(ks):
        share = None if deadline is None else max(0.0, deadline - time.perf_counter() - sum(floors[i + 1:]))
        solved[k] = balancer.solve(k, share, gap_tolerance)
    carry_bounds_down(solved, gap_tolerance)
    curve = None if curve_max_changes is None else [solved[k] for k in range(curve_max_changes + 1)]
    return solved[max_changes], curve


def curve_floors(ks: list[int], max_changes: int, time_limit: float | None) -> list[float]:
    """Seconds of a ``solve_with_curve`` budget the earlier K keep back for each of ``ks``: :data:`CURVE_FLOOR_SHARE`
    of an equal share, a whole equal share for ``max_changes`` (0 without a limit)."""
    if time_limit is None:
        return [0.0] * len(ks)
    equal = time_limit / len(ks)
    return [equal if k == max_changes else CURVE_FLOOR_SHARE * equal for k in ks]


def carry_bounds_down(solved: dict[int, PhaseBalanceResult], gap_tolerance: float) -> None:
    """Give each K the best lower bound proven for any K' >= K, in place.

    With more changes allowed the optimum can only fall: ``opt(K') <= opt(K)`` for ``K' >= K``, so a
    bound proven for ``K'`` holds for ``K`` too: ``bound(K) := max(bound(K), max_{K' > K} bound(K'))``
    (never above ``imbalance(K)``, which is the value of an assignment feasible for ``K``). A
    time-limited point whose gap this closes is optimal, and its reason says which K proved it; a
    solver error keeps its status (its incumbent is unchanged; only the bound is better).
    """
    best, proven_by = -math.inf, None
    for k in sorted(solved, reverse=True):
        result = solved[k]
        if result.bound >= best:
            best, proven_by = result.bound, k
            continue
        result.bound = min(best, result.imbalance)
        if result.status == TIME_LIMIT and result.gap <= gap_tolerance:
            result.status = OPTIMAL
            result.reason = (f"proven optimal by the bound of K = {proven_by} (a bound for more changes holds for "
                             f"fewer); its own solve had stopped: {result.reason or 'time limit'}")
