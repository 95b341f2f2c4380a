"""Consensus ADMM across contingency scenarios (PowerLASCOPF's decomposition idea).

Blocks: the base block (generation cost, ramps, base-case flow limits) and one
block per group of contingency scenarios (post-contingency flow limits of its
outages). Each block holds its own copy of the dispatch ``x_i`` (n_gen x T);
consensus ``x_i = z`` is the preventive condition (one dispatch for all). Scaled
ADMM with residual balancing of ``rho``:

    x_0 = argmin cost(x) + rho/2 ||x - z + u_0||^2  s.t. base constraints
    x_g = argmin ||x - z + u_g||^2                   s.t. scenario-group constraints
    z   = mean_i (x_i + u_i);   u_i += x_i - z

Scenario-group problems are independent: with ``workers > 1`` they are solved
in separate processes, each owning a fixed set of groups and keeping its
compiled cvxpy problems (parameters) across iterations.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import time
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import pandas as pd

from ..network.dc_model import build_dc_model
from ..network.model import Network
from ..network.sensitivities import lodf
from ..solver_status import ERROR, OPTIMAL, SolverOutcome
from .contingency_set import ContingencySet, resolve_contingencies, without_generator_outages, without_outages
from .data import LascopfData, flows_from_angles, load_matrix, make_data
from .formulation import BuiltProblem, build_problem
from .result import LascopfResult
from .rows import RowSet, all_rows, violated_rows
from .solution import fill_tables
from .solve import default_solver, solve_problem


def _group_data(network: Network, loads: np.ndarray, outaged: np.ndarray) -> LascopfData:
    model = build_dc_model(network)
    sensitivities = lodf(model, outaged)
    group = ContingencySet(sensitivities, network.branch["branch"].to_numpy()[sensitivities.outaged].tolist(), pd.DataFrame())
    return make_data(model, loads, group, None)


@dataclass
class _Center:
    value: np.ndarray


def generation_cost(network: Network, p: np.ndarray) -> float:
    """Sum over generators and intervals of the polynomial or piecewise-linear cost of dispatch ``p``."""
    gen = network.gen
    c2, c1, c0 = (gen[c].to_numpy(float)[:, None] for c in ("c2", "c1", "c0"))
    poly = (gen["cost_model"] == "poly").to_numpy()
    cost = float(np.sum((c2 * p**2 + c1 * p + c0)[poly]))
    for name, grp in network.pwl_points.groupby("gen", sort=False):  # one group per PWL generator
        i = int(np.flatnonzero(gen["gen"].to_numpy() == name)[0])
        x, y = grp["mw"].to_numpy(float), grp["cost"].to_numpy(float)
        s = np.diff(y) / np.diff(x)
        cost += float(np.sum(np.max(s[:, None] * (p[i][None, :] - x[:-1, None]) + y[:-1, None], axis=0)))
    return cost


@dataclass
class _ScenarioProblem:
    problem: cp.Problem
    p: cp.Variable
    target: cp.Parameter


def _scenario_problem(data: LascopfData) -> _ScenarioProblem:
    """Projection of a target dispatch onto one scenario group's feasible set."""
    full = all_rows(data)
    built = build_problem(data, full.select(full.k >= 0))
    target = cp.Parameter(built.p.shape, name="target")
    problem = cp.Problem(cp.Minimize(cp.sum_squares(built.p - target)), built.problem.constraints)
    return _ScenarioProblem(problem, built.p, target)


def _solve_scenario(scenario: _ScenarioProblem, target: np.ndarray, solver: str) -> tuple[SolverOutcome, np.ndarray | None]:
    scenario.target.value = target
    outcome = solve_problem(scenario.problem, solver)
    return outcome, (scenario.p.value if outcome.ok else None)


def _worker(conn, network: Network, loads: np.ndarray, groups: list[np.ndarray], solver: str) -> None:
    problems = [_scenario_problem(_group_data(network, loads, g)) for g in groups]
    conn.send("ready")
    while True:
        msg = conn.recv()
        if msg is None:
            break
        conn.send([_solve_scenario(scenario, target, solver) for scenario, target in zip(problems, msg)])
    conn.close()


class _ScenarioPool:
    """Scenario-group subproblems, in this process (workers=1) or spread over worker processes."""

    def __init__(self, network: Network, loads: np.ndarray, groups: list[np.ndarray], workers: int, solver: str):
        self.solver = solver
        self.n = len(groups)
        self.workers = max(1, min(workers, self.n))
        self.procs: list = []
        if self.workers == 1:
            self.local = [_scenario_problem(_group_data(network, loads, g)) for g in groups]
            return
        ctx = mp.get_context("spawn")
        self.owned = [list(range(w, self.n, self.workers)) for w in range(self.workers)]
        self.conns = []
        for w in range(self.workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=_worker, args=(child, network, loads, [groups[i] for i in self.owned[w]], solver), daemon=True
            )
            proc.start()
            self.procs.append(proc)
            self.conns.append(parent)
        for c in self.conns:
            c.recv()

    def solve(self, targets: list[np.ndarray]) -> list[tuple[SolverOutcome, np.ndarray | None]]:
        if self.workers == 1:
            return [_solve_scenario(scenario, target, self.solver) for scenario, target in zip(self.local, targets)]
        for c, own in zip(self.conns, self.owned):
            c.send([targets[i] for i in own])
        out: list = [None] * self.n
        for c, own in zip(self.conns, self.owned):
            for i, res in zip(own, c.recv()):
                out[i] = res
        return out

    def close(self) -> None:
        for c in getattr(self, "conns", []):
            with contextlib.suppress(BrokenPipeError, OSError):  # a worker that already exited
                c.send(None)
        for p in self.procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()


def solve_lascopf_admm(
    network: Network,
    loads_by_interval=None,
    contingencies="marked",
    groups: int | None = None,
    workers: int = 1,
    rho: float = 1.0,
    max_iterations: int = 2000,
    tol_mw: float = 1e-3,
    solver: str | None = None,
    generator_contingencies="listed",
) -> LascopfResult:
    """ADMM across contingency-scenario groups; hard limits only; branch outages only.

    Generator outages (``generator_contingencies``, as :func:`.central.solve_lascopf`) are not modeled
    by this decomposition: they are listed in ``contingencies_skipped`` with that reason.

    ``groups``: number of scenario groups (default: one per contingency up to 8).
    Stops when the primal residual ``max_i |x_i - z|`` and the dual residual
    ``rho |z - z_prev|`` (max norm, MW) are both below ``tol_mw``. The history
    holds ``iteration, primal_residual, dual_residual, rho, objective``.
    """
    t0 = time.perf_counter()
    loads = load_matrix(network, loads_by_interval)
    model = build_dc_model(network)
    contingency_set = (
        contingencies if isinstance(contingencies, ContingencySet)
        else resolve_contingencies(model, contingencies, generator_contingencies)
    )
    contingency_set = without_generator_outages(
        contingency_set, "generator outage not modeled by the ADMM solver (use the central method)"
    )
    solver = solver or default_solver(network)
    outaged = contingency_set.sensitivities.outaged
    n_groups = max(1, min(len(outaged), groups or 8))
    group_list = [g for g in np.array_split(outaged, n_groups) if len(g)]
    T = loads.shape[1]

    # base block: cost + ramps + base flow limits, proximal term with parameters
    base_data = make_data(model, loads, without_outages(contingency_set), None)
    built = build_problem(base_data, all_rows(base_data))
    # rho/2 |p - c|^2 = rho/2 |p|^2 - <rho c, p> + const, written so that cvxpy can reuse the compiled problem (DPP)
    center = _Center(np.zeros((network.n_gen, T)))
    rho_c = cp.Parameter((network.n_gen, T), name="rho_center")
    rho_p = cp.Parameter(nonneg=True, name="rho")
    base_problem = cp.Problem(
        built.problem.objective + cp.Minimize(0.5 * rho_p * cp.sum_squares(built.p) - cp.sum(cp.multiply(rho_c, built.p))),
        built.problem.constraints,
    )

    def set_center(c: np.ndarray, r: float) -> None:
        center.value = c
        rho_p.value = r
        rho_c.value = r * c

    result = LascopfResult(
        status=ERROR, reason="not run", objective=None, method="admm", solve_seconds=0.0, iterations=0, intervals=T,
        contingencies_modeled=contingency_set.modeled, contingencies_skipped=contingency_set.skipped,
    )
    # start from the dispatch without contingencies
    set_center(np.zeros((network.n_gen, T)), 0.0)
    outcome = solve_problem(base_problem, solver)
    if not outcome.ok:
        result.status, result.reason = outcome.status, outcome.reason
        result.cause = "base case (cost, ramp and base flow limits) is infeasible without contingencies"
        result.solve_seconds = time.perf_counter() - t0
        return result
    z = built.p.value.copy()
    if not group_list:  # nothing to decompose
        result.status, result.reason, result.iterations = OPTIMAL, None, 1
        _finish(result, base_data, built, contingency_set)
        result.solve_seconds = time.perf_counter() - t0
        return result

    pool = _ScenarioPool(network, loads, group_list, workers, solver)
    n_blocks = len(group_list) + 1
    u = np.zeros((n_blocks, network.n_gen, T))
    x = np.repeat(z[None], n_blocks, axis=0)
    history = []
    primal = dual = float("nan")
    try:
        for it in range(1, max_iterations + 1):
            set_center(z - u[0], rho)
            outcome = solve_problem(base_problem, solver)
            if not outcome.ok:
                result.status, result.reason = outcome.status, f"base block: {outcome.reason}"
                break
            x[0] = built.p.value
            scenario_results = pool.solve([z - u[g + 1] for g in range(len(group_list))])
            failed = [(i, outcome) for i, (outcome, _) in enumerate(scenario_results) if not outcome.ok]
            if failed:
                i, outcome = failed[0]
                names = ", ".join(network.branch["branch"].to_numpy()[group_list[i]][:10])
                result.status, result.reason = outcome.status, outcome.reason
                result.cause = f"scenario group with the outage(s) of {names}: {outcome.status}"
                break
            for g, (_, x_group) in enumerate(scenario_results):
                x[g + 1] = x_group
            z_prev = z
            z = (x + u).mean(axis=0)
            u += x - z[None]
            primal = float(np.abs(x - z[None]).max())
            dual = float(rho * np.abs(z - z_prev).max())
            history.append((it, primal, dual, rho, generation_cost(network, x[0])))
            if primal < tol_mw and dual < tol_mw:
                result.status, result.reason = OPTIMAL, None
                break
            # residual balancing (Boyd et al. 3.4.1); the scaled duals follow rho
            if primal > 10 * dual:
                rho *= 2.0
                u /= 2.0
            elif dual > 10 * primal:
                rho /= 2.0
                u *= 2.0
        else:
            result.reason = (
                f"ADMM stopped at its iteration limit ({max_iterations}): primal residual {primal:.3g} MW, "
                f"dual residual {dual:.3g} MW, tolerance {tol_mw:g} MW"
            )
    finally:
        pool.close()
    result.iterations = len(history)
    result.history = pd.DataFrame(history, columns=["iteration", "primal_residual", "dual_residual", "rho", "objective"])
    if result.status == "optimal":
        _finish(result, base_data, built, contingency_set)
    result.solve_seconds = time.perf_counter() - t0
    return result


def _finish(result: LascopfResult, base_data: LascopfData, built: BuiltProblem, contingency_set: ContingencySet) -> None:
    """Tables from the base block's dispatch, with post-contingency loadings over all modeled outages."""
    data = base_data.replace(contingencies=contingency_set)
    fill_tables(result, data, built, RowSet.empty(), objective=generation_cost(data.model.network, built.p.value))
    violated = violated_rows(data, flows_from_angles(data.model, built.theta.value), 1e-6)
    result.cause = None if not len(violated) else f"{len(violated)} post-contingency rows exceed limits within the ADMM tolerance"
