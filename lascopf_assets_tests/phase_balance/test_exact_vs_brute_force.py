"""The fast exact method and the cvxpy formulations against exhaustive enumeration."""

import numpy as np
import pytest

from lascopf_assets.lib.phase_balance.exact import (
    DEFAULT_GROUPS,
    SPIKY_SCIP_PARAMS,
    SPIKY_SHARE_VARIATION,
    ExactPhaseBalancer,
    default_group_count,
    share_variation,
    solve_fast,
    tradeoff_curve,
)
from lascopf_assets.lib.phase_balance.metric import imbalance
from lascopf_assets.lib.phase_balance.problem import PhaseBalanceProblem
from lascopf_assets.lib.phase_balance.reference import solve_reference

from .brute_force import brute_force, random_instance


def _instance(seed):
    rng = np.random.default_rng(1000 + seed)
    J = int(rng.integers(2, 9))
    T = int(rng.integers(1, 49))
    K = int(rng.integers(0, 4))
    loads, phase = random_instance(rng, J, T, zero_hours=int(rng.integers(0, 2)) if T > 1 else 0)
    return PhaseBalanceProblem.from_arrays(loads, phase), K


def _check(problem, K, result, best):
    assert result.status == "optimal"
    assert result.imbalance == pytest.approx(best, rel=1e-6, abs=1e-9)
    # the reported objective is the true metric of the returned assignment
    assert imbalance(problem.loads, result.assignment) == pytest.approx(result.imbalance, rel=1e-9, abs=1e-12)
    assert np.count_nonzero(result.assignment != problem.initial_phase) <= K
    assert len(result.changes) == np.count_nonzero(result.assignment != problem.initial_phase)
    assert result.bound <= result.imbalance + 1e-9
    assert result.bound >= best * (1 - 1e-5) - 1e-9  # a proven bound close to the true optimum


@pytest.mark.parametrize("seed", range(40))
def test_fast_scip_matches_brute_force(seed):
    problem, K = _instance(seed)
    best, _ = brute_force(problem.loads, problem.initial_phase, K)
    _check(problem, K, solve_fast(problem, K, solver="scip", gap_tolerance=1e-9), best)


@pytest.mark.parametrize("seed", range(0, 40, 2))
def test_fast_highs_matches_brute_force(seed):
    problem, K = _instance(seed)
    best, _ = brute_force(problem.loads, problem.initial_phase, K)
    _check(problem, K, solve_fast(problem, K, solver="highs", gap_tolerance=1e-9), best)


@pytest.mark.parametrize("seed", range(0, 40, 5))
@pytest.mark.parametrize("formulation", ["study", "epigraph"])
def test_reference_formulations_match_brute_force(seed, formulation):
    problem, K = _instance(seed)
    best, _ = brute_force(problem.loads, problem.initial_phase, K)
    _check(problem, K, solve_reference(problem, K, "highs", formulation=formulation, gap_tolerance=1e-9), best)


def test_tradeoff_curve_matches_brute_force_for_every_k():
    rng = np.random.default_rng(7)
    loads, phase = random_instance(rng, J=8, T=36)
    problem = PhaseBalanceProblem.from_arrays(loads, phase)
    curve = tradeoff_curve(problem, 4, gap_tolerance=1e-9)
    assert [r.max_changes for r in curve] == [0, 1, 2, 3, 4]
    for r in curve:
        best, _ = brute_force(loads, phase, r.max_changes)
        _check(problem, r.max_changes, r, best)
    values = [r.imbalance for r in curve]
    assert all(b <= a + 1e-12 for a, b in zip(values, values[1:]))
    assert curve[0].imbalance == pytest.approx(imbalance(loads, phase)) and curve[0].changes == []


@pytest.mark.parametrize("seed", range(5))
def test_term_cuts_are_tight_where_made_and_below_the_terms_everywhere(seed):
    """The master's terms 1/2 sum_{t in g} |d[t, p]| add up to the imbalance; the cut made at one assignment
    equals them there and stays at or below them at every other assignment (fractional moves included)."""
    rng = np.random.default_rng(seed)
    loads, phase = random_instance(rng, J=6, T=40, zero_hours=2)
    problem = PhaseBalanceProblem.from_arrays(loads, phase)
    b = ExactPhaseBalancer(problem, n_groups=5)
    assert b.n_terms == 3 * b.n_groups
    xs = [rng.integers(0, 3, size=6) for _ in range(12)]
    for x in xs:
        assert b.term_values(x).sum() == pytest.approx(imbalance(loads, x), rel=1e-12)
    for x in xs:
        coef, const, values = b.cuts_at(x)
        assert np.allclose(const + coef @ b.to_moves(x), values, rtol=1e-12, atol=1e-12)
        for other in xs:
            assert np.all(const + coef @ b.to_moves(other) <= b.term_values(other) + 1e-12)
        # a fractional point: move m carries the share y_m of its junction to its target phase; the terms
        # there are computed from the loads directly, not through the balancer's own matrices
        y = rng.random(len(b.move_junction)) * 0.5
        effect = np.eye(3)[b.move_target] - np.eye(3)[problem.initial_phase[b.move_junction]]  # (2J, 3)
        dev = b.norm.d0 + b.norm.l[b.move_junction].T @ (y[:, None] * effect)
        terms = np.zeros((b.n_groups, 3))
        np.add.at(terms, b.groups, 0.5 * np.abs(dev))
        assert np.all(const + coef @ y <= terms.ravel() + 1e-12)
        # the cut made at that fractional point (SCIP's separation) is tight there and below the terms at the
        # assignments and at another fractional point
        f_coef, f_const, f_values = b.cuts_at_moves(y)
        assert np.allclose(f_values, terms.ravel(), rtol=1e-12, atol=1e-12)
        assert np.allclose(f_const + f_coef @ y, f_values, rtol=1e-12, atol=1e-12)
        for other in xs:
            assert np.all(f_const + f_coef @ b.to_moves(other) <= b.term_values(other) + 1e-12)
        y2 = rng.random(len(b.move_junction)) * 0.5
        assert np.all(f_const + f_coef @ y2 <= b.cuts_at_moves(y2)[2] + 1e-12)
        # what the separation asks for: the terms some theta underestimates, with the same rows
        theta = f_values * rng.choice([0.5, 1.0], size=len(f_values))
        terms, v_coef, v_const = b.violated_cuts_at_moves(y, theta, 1e-9)
        assert list(terms) == list(np.flatnonzero(theta < f_values * (1 - 1e-6)))
        assert np.allclose(v_coef, f_coef[terms], rtol=1e-12, atol=1e-12)
        assert np.allclose(v_const, f_const[terms], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_fractional_cuts_keep_the_optimum_of_nearly_balanced_feeders(seed):
    """Near balance (one shared daily shape, a few percent of noise per junction) SCIP's tree cuts fractional LP
    points; with and without those cuts (two solve paths) the optimum is the enumerated one."""
    rng = np.random.default_rng(3000 + seed)
    J, T = 11, 48
    shape = 1 + 0.6 * np.sin(np.arange(T) * 2 * np.pi / 24)
    loads = np.round(rng.lognormal(0.0, 0.4, size=(J, 1)) * shape * rng.normal(1.0, 0.05, size=(J, T)), 4)
    problem = PhaseBalanceProblem.from_arrays(loads, rng.choice(3, size=J, p=[0.6, 0.3, 0.1]))
    K = 3 + seed % 3
    best, _ = brute_force(problem.loads, problem.initial_phase, K)
    balancer = ExactPhaseBalancer(problem)
    _check(problem, K, balancer.solve(K, gap_tolerance=1e-9, local_search=False), best)
    assert balancer.n_fractional_cuts > 0
    plain = ExactPhaseBalancer(problem, fractional_cuts=False)
    _check(problem, K, plain.solve(K, gap_tolerance=1e-9, local_search=False), best)
    assert plain.n_fractional_cuts == 0


def _spiky_instance(seed, J=7, T=80):
    """Household-like loads: a small base load with appliance spikes in a few intervals."""
    rng = np.random.default_rng(2000 + seed)
    loads = 0.05 * rng.uniform(0.5, 1.5, size=(J, T))
    spikes = rng.random((J, T)) < 0.12
    loads[spikes] += rng.lognormal(0.5, 0.6, size=int(spikes.sum()))
    return PhaseBalanceProblem.from_arrays(np.round(loads, 4), rng.choice(3, size=J, p=[0.5, 0.3, 0.2]))


def test_the_scip_settings_follow_the_spikiness_of_the_loads_and_the_group_count_does_not():
    # fixed shares: every junction a constant fraction of the total, so no variation at all
    total = 1 + 0.5 * np.sin(np.arange(300) / 7.0)
    steady = PhaseBalanceProblem.from_arrays(np.outer([1.0, 2.0, 3.0, 0.5], total), np.array([0, 0, 1, 2]))
    b = ExactPhaseBalancer(steady)
    assert share_variation(b.norm) == pytest.approx(0.0, abs=1e-12)
    assert (b.spiky, default_group_count(b.norm), b.scip_params) == (False, DEFAULT_GROUPS, {})  # (k-means merges identical hours)
    # a junction without load counts for nothing (no division by its zero mean)
    idle = PhaseBalanceProblem.from_arrays(np.vstack([steady.loads, np.zeros(300)]), np.array([0, 0, 1, 2, 1]))
    assert share_variation(ExactPhaseBalancer(idle).norm) == pytest.approx(0.0, abs=1e-12)

    spiky = _spiky_instance(0, J=7, T=500)
    b = ExactPhaseBalancer(spiky)
    assert share_variation(b.norm) > SPIKY_SHARE_VARIATION
    assert b.spiky and b.n_groups == default_group_count(b.norm) == DEFAULT_GROUPS and b.scip_params == SPIKY_SCIP_PARAMS
    # never more groups than intervals; the caller's groups and SCIP parameters win
    assert default_group_count(ExactPhaseBalancer(_spiky_instance(0, J=7, T=DEFAULT_GROUPS - 1)).norm) == DEFAULT_GROUPS - 1
    mine = ExactPhaseBalancer(spiky, n_groups=5, solver_options={"constraints/knapsack/propfreq": 1})
    assert mine.n_groups == 5 and mine.scip_params == {"constraints/knapsack/propfreq": 1}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("solver", ["scip", "highs"])
def test_fast_method_on_spiky_loads_matches_brute_force(seed, solver):
    """The spiky settings (40 groups of the 80 intervals, SCIP's knapsack propagation off) stay exact."""
    problem = _spiky_instance(seed)
    assert ExactPhaseBalancer(problem).spiky
    K = 1 + seed % 3
    best, _ = brute_force(problem.loads, problem.initial_phase, K)
    result = solve_fast(problem, K, solver=solver, gap_tolerance=1e-9)
    _check(problem, K, result, best)


def _point(k, imbalance_value, bound, status="time_limit"):
    from lascopf_assets.lib.phase_balance.result import PhaseBalanceResult

    return PhaseBalanceResult(status=status, max_changes=k, initial_imbalance=10.0, imbalance=imbalance_value,
                              bound=bound, assignment=np.zeros(2, dtype=int), changes=[], solve_seconds=1.0,
                              method="fast", solver="scip", reason="SCIP status 'timelimit'")


def test_a_bound_proven_for_more_changes_holds_for_fewer():
    from lascopf_assets.lib.phase_balance.exact import carry_bounds_down

    # TR3's curve of the last demo: K = 9's bound sat above K = 8's
    solved = {8: _point(8, 180.0, 154.9), 9: _point(9, 175.0, 171.2), 10: _point(10, 171.2, 171.2, "optimal"),
              7: _point(7, 171.2, 120.0), 6: _point(6, 200.0, 190.0, "error")}
    carry_bounds_down(solved, gap_tolerance=1e-6)
    assert solved[8].bound == 171.2 and solved[8].status == "time_limit"  # a better bound, still a gap
    assert solved[7].bound == 171.2 and solved[7].status == "optimal"  # the gap closes: proven by K = 9
    assert "K = 9" in solved[7].reason and "timelimit" in solved[7].reason
    assert solved[6].bound == 190.0 and solved[6].status == "error"  # its own bound is the larger; errors stay errors
    assert [solved[k].bound for k in (9, 10)] == [171.2, 171.2]


def test_curve_bounds_under_a_tight_budget_are_monotone_and_valid():
    from lascopf_assets.lib.phase_balance.exact import ExactPhaseBalancer, solve_with_curve

    rng = np.random.default_rng(11)
    loads, phase = random_instance(rng, J=8, T=48)
    problem = PhaseBalanceProblem.from_arrays(loads, phase)
    _, curve = solve_with_curve(ExactPhaseBalancer(problem, "scip"), 2, 5, time_limit=0.5)
    bounds = [r.bound for r in curve]
    assert all(b <= a + 1e-12 for a, b in zip(bounds, bounds[1:]))
    for r in curve:
        best, _ = brute_force(loads, phase, r.max_changes)
        assert r.bound <= best * (1 + 1e-9) + 1e-12 <= r.imbalance * (1 + 1e-9) + 2e-12


@pytest.mark.parametrize("seed", range(12))
def test_unlimited_setting_with_phase_symmetry_breaking_matches_brute_force(seed):
    from lascopf_assets.lib.phase_balance.exact import ExactPhaseBalancer

    problem, _ = _instance(seed)
    J = problem.n_junctions
    best, best_x = brute_force(problem.loads, problem.initial_phase, J)
    balancer = ExactPhaseBalancer(problem, "scip")
    fixed, rule = balancer.symmetry_breaking(J)
    if J >= 2:
        assert len(fixed) == 3 and balancer.symmetry_breaking(J - 1)[1] is None  # only where the cap cannot bind
        canon = balancer.canonical(best_x, rule)
        assert imbalance(problem.loads, canon) == pytest.approx(best, rel=1e-9)
        assert not balancer.to_moves(canon)[fixed].any()
    result = balancer.solve(J, gap_tolerance=1e-9)
    assert result.unlimited
    _check(problem, J, result, best)
