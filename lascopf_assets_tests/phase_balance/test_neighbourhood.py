"""Fixed junctions and the exact neighbourhood search of the unlimited setting, against exhaustive enumeration."""

import dataclasses
import math

import numpy as np
import pytest

import lascopf_assets.lib.phase_balance.exact as exact
from lascopf_assets.lib.phase_balance.exact import ExactPhaseBalancer
from lascopf_assets.lib.phase_balance.local_search import improve
from lascopf_assets.lib.phase_balance.metric import NormalizedLoads, imbalance
from lascopf_assets.lib.phase_balance.neighbourhood import NEIGHBOURHOOD_STALE_STEPS, search_neighbourhoods
from lascopf_assets.lib.phase_balance.problem import PhaseBalanceProblem
from lascopf_assets.lib.solver_status import OPTIMAL

from .brute_force import brute_force, random_instance


def _problem(seed, J, T=24):
    rng = np.random.default_rng(7000 + seed)
    loads, phase = random_instance(rng, J, T)
    return PhaseBalanceProblem.from_arrays(loads, phase), rng


@pytest.mark.parametrize("solver", ["scip", "highs"])
@pytest.mark.parametrize("seed", range(6))
def test_a_solve_with_fixed_junctions_is_exact_over_the_others(solver, seed):
    problem, rng = _problem(seed, J=int(6 + seed % 3))
    J = problem.n_junctions
    fixed = np.sort(rng.choice(J, size=int(rng.integers(1, J - 1)), replace=False))
    K = int(rng.integers(1, J + 1))
    best, _ = brute_force(problem.loads, problem.initial_phase, K, fixed=fixed)
    balancer = ExactPhaseBalancer(problem, solver)
    result = balancer.solve(K, gap_tolerance=1e-9, keep=fixed)
    assert result.status == OPTIMAL
    assert np.array_equal(balancer.best_x[fixed], problem.initial_phase[fixed])
    assert balancer.best_value == pytest.approx(best, rel=1e-6, abs=1e-9)
    assert result.bound <= best * (1 + 1e-9) + 1e-12
    # the same balancer, nothing fixed any more: the whole problem's optimum, no lower than the fixed one
    free_best, _ = brute_force(problem.loads, problem.initial_phase, K)
    again = balancer.solve(K, gap_tolerance=1e-9)
    assert again.status == OPTIMAL and again.imbalance == pytest.approx(free_best, rel=1e-6, abs=1e-9)
    assert free_best <= best + 1e-12


def test_local_search_leaves_fixed_junctions_where_they_are():
    problem, _ = _problem(0, J=10)
    norm = NormalizedLoads.from_problem(problem)
    movable = np.arange(10) % 3 == 0
    x, value = improve(norm, problem.initial_phase, 10, movable=movable)
    assert np.array_equal(x[~movable], problem.initial_phase[~movable])
    assert value == pytest.approx(imbalance(problem.loads, x), rel=1e-9)
    assert value <= imbalance(problem.loads, problem.initial_phase)
    moved = problem.initial_phase.copy()
    moved[1] = (moved[1] + 1) % 3  # a kept junction off its own phase stays there and counts against the cap
    x, _ = improve(norm, moved, 2, movable=movable)
    assert x[1] == moved[1] and np.array_equal(x[~movable], moved[~movable])
    assert np.count_nonzero(x != problem.initial_phase) <= 2


@pytest.mark.parametrize("seed", range(3))
def test_each_neighbourhood_step_is_the_optimum_over_its_junctions(seed):
    problem, _ = _problem(seed, J=8)
    size = 4
    steps = []

    current = [problem.initial_phase.copy()]

    def solve_neighbourhood(fixed, seconds):
        assert len(fixed) == problem.n_junctions - size
        x = current[-1]
        rebased = dataclasses.replace(problem, initial_phase=x)  # what may be reached with the others kept
        balancer = ExactPhaseBalancer(rebased, "scip")
        result = balancer.solve(size, seconds, 1e-9, keep=fixed)
        best, _ = brute_force(rebased.loads, rebased.initial_phase, size, fixed=fixed)
        steps.append((imbalance(problem.loads, x), balancer.best_value, best, result.status))
        if balancer.best_value < imbalance(problem.loads, x):
            current.append(balancer.best_x)
        return result.status, balancer.best_x, balancer.best_value

    start = problem.initial_phase
    start_value = imbalance(problem.loads, start)
    found = search_neighbourhoods(problem.n_junctions, start, start_value, solve_neighbourhood, size=size,
                                  seed=seed, stale_steps=5)
    assert found.steps == len(steps) >= 5 and found.proven == found.steps
    for before, value, best, status in steps:
        assert status == OPTIMAL and value == pytest.approx(best, rel=1e-6, abs=1e-9) and value <= before + 1e-12
    assert found.improved == sum(v < b * (1 - 1e-9) for b, v, _, _ in steps)
    # each step starts from the best so far: the values the steps start from never rise
    starts = [b for b, _, _, _ in steps]
    assert all(b2 <= b1 + 1e-12 for b1, b2 in zip(starts, starts[1:]))
    assert found.imbalance == pytest.approx(imbalance(problem.loads, found.assignment), rel=1e-9)
    assert found.imbalance == pytest.approx(min([start_value] + [v for _, v, _, _ in steps]), rel=1e-9)


def test_the_search_stops_at_its_deadline():
    problem, _ = _problem(0, J=8)
    calls = []

    def never_better(fixed, seconds):
        calls.append(seconds)
        return OPTIMAL, problem.initial_phase, math.inf

    found = search_neighbourhoods(8, problem.initial_phase, 1.0, never_better, deadline=0.0)
    assert found.steps == 0 and not calls
    found = search_neighbourhoods(8, problem.initial_phase, 1.0, never_better, stale_steps=3)
    assert found.steps == 3 and found.improved == 0 and np.array_equal(found.assignment, problem.initial_phase)


@pytest.mark.parametrize(("solver", "seed"), [("scip", 0), ("scip", 1), ("scip", 2), ("highs", 2)])
def test_the_unlimited_setting_with_the_search_is_exact(monkeypatch, solver, seed):
    # small neighbourhoods, so that the search runs on a feeder brute force can check
    monkeypatch.setattr(exact, "NEIGHBOURHOOD_JUNCTIONS", 3)
    problem, _ = _problem(seed, J=7)
    J = problem.n_junctions
    best, _ = brute_force(problem.loads, problem.initial_phase, J)
    result = ExactPhaseBalancer(problem, solver).solve(J, gap_tolerance=1e-7)
    assert result.unlimited and result.status == OPTIMAL
    assert result.imbalance == pytest.approx(best, rel=1e-6, abs=1e-9)
    assert imbalance(problem.loads, result.assignment) == pytest.approx(result.imbalance, rel=1e-9)
    counts = result.neighbourhood_search
    assert counts["steps"] >= NEIGHBOURHOOD_STALE_STEPS and counts["proven"] == counts["steps"]
    assert result.to_dict()["neighbourhood_search"] == counts
    # a K below the junction count runs no search, nor does a balancer told not to (the same optimum)
    assert ExactPhaseBalancer(problem, solver).solve(J - 1).neighbourhood_search is None
    alone = ExactPhaseBalancer(problem, solver, use_neighbourhood_search=False).solve(J, gap_tolerance=1e-9)
    assert alone.neighbourhood_search is None and alone.imbalance == pytest.approx(best, rel=1e-6, abs=1e-9)


def test_a_time_limited_unlimited_solve_searches_then_bounds_within_its_limit():
    rng = np.random.default_rng(3)
    loads, phase = random_instance(rng, 16, 48)
    problem = PhaseBalanceProblem.from_arrays(loads, phase)
    local, _ = improve(NormalizedLoads.from_problem(problem), problem.initial_phase, 16)
    result = ExactPhaseBalancer(problem, "scip").solve(16, time_limit=4.0)
    assert result.neighbourhood_search["steps"] >= 1
    assert result.solve_seconds <= 4.0 + 2.0
    assert result.imbalance <= imbalance(problem.loads, local) + 1e-9
    assert result.bound <= result.imbalance
    assert imbalance(problem.loads, result.assignment) == pytest.approx(result.imbalance, rel=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_a_search_below_the_cap_keeps_the_cap_and_never_worsens(monkeypatch, seed):
    monkeypatch.setattr(exact, "NEIGHBOURHOOD_JUNCTIONS", 3)
    problem, _ = _problem(seed, J=8)
    K = 2
    balancer = ExactPhaseBalancer(problem, "scip")
    start = balancer.best_value
    balancer._search_neighbourhoods(K, math.inf, 1e-9)
    counts = balancer.neighbourhood_search.counts()
    assert counts["steps"] >= NEIGHBOURHOOD_STALE_STEPS and counts["proven"] == counts["steps"]
    x = balancer.best_x
    assert np.count_nonzero(x != problem.initial_phase) <= K
    assert balancer.best_value == pytest.approx(imbalance(problem.loads, x), rel=1e-9) and balancer.best_value <= start
    best, _ = brute_force(problem.loads, problem.initial_phase, K)
    assert balancer.best_value >= best * (1 - 1e-9)
    # below the cap a solve is the tree alone: no search
    result = ExactPhaseBalancer(problem, "scip").solve(K, time_limit=60.0, gap_tolerance=1e-9)
    assert result.status == OPTIMAL and result.neighbourhood_search is None
    assert result.imbalance == pytest.approx(best, rel=1e-6, abs=1e-9)
