"""The metric against the plain-loop definition, and the max-abs linearization lemma."""

import numpy as np
import pytest

from lascopf_assets.lib.phase_balance.linearization import active_piece, half_l1, max_abs_balanced, pieces
from lascopf_assets.lib.phase_balance.metric import (
    NormalizedLoads,
    hourly_imbalance,
    imbalance,
    zero_mean_hours,
)
from lascopf_assets.lib.phase_balance.problem import PhaseBalanceProblem

from .brute_force import imbalance_by_loop, random_instance


@pytest.mark.parametrize("seed", range(8))
def test_metric_equals_loop_definition(seed):
    rng = np.random.default_rng(seed)
    loads, phase = random_instance(rng, J=int(rng.integers(1, 12)), T=int(rng.integers(1, 60)),
                                   zero_hours=int(rng.integers(0, 2)))
    for x in (phase, rng.integers(0, 3, size=len(phase))):
        assert imbalance(loads, x) == pytest.approx(imbalance_by_loop(loads, x), rel=1e-12, abs=1e-12)


def test_normalized_objective_equals_metric_and_d0_sums_to_zero():
    rng = np.random.default_rng(3)
    loads, phase = random_instance(rng, J=9, T=40, zero_hours=3)
    problem = PhaseBalanceProblem.from_arrays(loads, phase)
    norm = NormalizedLoads.from_problem(problem)
    assert len(norm.skipped_hours) == 3 and len(norm.kept_hours) == 37
    assert np.allclose(norm.d0.sum(axis=1), 0.0, atol=1e-12)
    for _ in range(5):
        x = rng.integers(0, 3, size=9)
        assert norm.objective(x) == pytest.approx(imbalance(loads, x), rel=1e-12)


def test_zero_mean_hours_are_skipped_and_reported():
    loads = np.array([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    assert list(zero_mean_hours(loads)) == [1]
    h = hourly_imbalance(loads, np.array([0, 1]))
    assert np.isnan(h[1]) and np.isfinite(h[[0, 2]]).all()
    # hour 0: agg = (1, 3, 0), mean 4/3 -> max dev 5/3 -> 1.25; hour 2: (2, 0, 0) -> 2
    assert imbalance(loads, np.array([0, 1])) == pytest.approx(1.25 + 2.0)


def test_negative_total_load_is_refused():
    with pytest.raises(ValueError, match="negative"):
        hourly_imbalance(np.array([[1.0, -5.0]]), np.array([0]))


def test_linearization_lemma_against_brute_force():
    """max_p |a_p| = max of the 6 pieces = half the L1 norm when the entries sum to zero."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 3))
    a -= a.mean(axis=1, keepdims=True)
    brute = np.array([max(abs(v) for v in row) for row in a[:2000]])
    assert np.allclose(max_abs_balanced(a[:2000]), brute, atol=0, rtol=0)
    assert np.allclose(half_l1(a), max_abs_balanced(a), rtol=1e-12, atol=1e-15)
    # every one of the 6 pieces is the unique maximum somewhere (none can be dropped)
    assert set(np.unique(active_piece(a))) == set(range(6))
    for k in range(6):
        region = a[active_piece(a) == k]
        others = np.delete(pieces(region), k, axis=1)
        assert (pieces(region)[:, k][:, None] > others).all()
    # without the zero-sum condition the half-L1 identity fails, so the condition matters
    b = np.array([[1.0, 1.0, 1.0]])
    assert half_l1(b)[0] != max_abs_balanced(b)[0]
