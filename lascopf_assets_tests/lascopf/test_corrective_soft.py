"""Soft limits under corrective security (issue 14, ACTIVSg10k): the flows at the outage (emergency
rating) and every trajectory step's flows get penalized slacks, base limits, balance and unit limits
stay hard. Screening == extensive form for both slack kinds, soft <= hard, the legacy 5-bus case that
is infeasible with hard limits becomes feasible, and the reported slack equals the violations
recomputed by direct power flows on the cut network."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lascopf_assets.lib.lascopf import solve_lascopf
from lascopf_assets.lib.network import build_dc_model, read_legacy_case

from .conftest import with_scaled_ratings

PENALTY = 50.0  # $/MWh


def corrective(net, n, **kwargs):
    return solve_lascopf(net, security="corrective", restore_intervals=n, **kwargs)


@pytest.fixture(scope="module")
def legacy5(legacy_dir):
    return read_legacy_case(legacy_dir / "5")


@pytest.fixture(scope="module")
def legacy14_tight(legacy_dir):
    net = read_legacy_case(legacy_dir / "14")
    free = solve_lascopf(net, contingencies="all")
    return with_scaled_ratings(net, free.max_post_contingency_loading * 0.7)


def recomputed_slack(net, res, steps: int, soft_slack: str, emergency_factor: float = 1.2) -> float:
    """The violations of the relaxed rows, from direct DC power flows on each cut network (no LODF, no model rows).

    Every modeled outage and interval: at the outage under ``P[:, t]`` against ``E``; steps ``1..N`` of its
    trajectory (``Q = P`` where none is reported) against ``E`` (s < N) and ``rateA`` (s = N).
    ``"row"``: their sum; ``"branch"``: per monitored branch and interval the largest, summed.
    """
    loads = net.case_loads(net.load_profile_mw.shape[1])
    T = loads.shape[1]
    rate = net.branch.set_index("branch")["rate_mw"]
    emergency = rate * emergency_factor
    gens = net.gen["gen"].to_numpy()
    dispatch = res.dispatch_matrix().loc[gens].to_numpy()
    traj = res.corrective_dispatch
    total, worst = 0.0, {}
    for outage in res.contingencies_modeled:
        k = int(np.flatnonzero(net.branch["branch"] == outage)[0])
        cut = dataclasses.replace(net, branch=net.branch.drop(index=net.branch.index[k]).reset_index(drop=True))
        model = build_dc_model(cut)
        names = cut.branch["branch"].to_numpy()
        for t in range(T):
            mine = traj[(traj["outaged_branch"] == outage) & (traj["interval"] == t + 1)]
            if len(mine):
                q = mine.pivot(index="gen", columns="step", values="p_mw").loc[gens].to_numpy()
                np.testing.assert_allclose(q[:, 0], dispatch[:, t], atol=1e-6)
            else:
                q = np.repeat(dispatch[:, t][:, None], steps + 1, axis=1)
            # at the outage (step 0, against E), then the trajectory's steps 1..N
            for s in range(steps + 1):
                _, f = model.power_flow(model.net_injection_mw(q[:, s], loads[:, t]))
                limit = (rate if s == steps else emergency).loc[names].to_numpy()
                over = np.maximum(np.abs(f) - limit, 0.0)
                total += over.sum()
                for name, v in zip(names, over):
                    worst[(name, t)] = max(worst.get((name, t), 0.0), v)
    return total if soft_slack == "row" else sum(worst.values())


@pytest.mark.parametrize("soft_slack", ["row", "branch"])
def test_soft_corrective_screening_equals_extensive_and_makes_the_5_bus_case_feasible(legacy5, soft_slack):
    steps = 2
    hard = corrective(legacy5, steps, contingencies="marked")
    assert hard.status == "infeasible"  # flows at the outage above the emergency rating
    kwargs = dict(contingencies="marked", soft_limit_penalty=PENALTY, soft_slack=soft_slack)
    reports = []
    screening = corrective(legacy5, steps, on_iteration=reports.append, **kwargs)
    assert [r["trajectory_pairs"] for r in reports][-1] >= screening.corrective_dispatch[["outaged_branch", "interval"]] \
        .drop_duplicates().shape[0] > 0  # the held trajectories cover the corrected pairs
    extensive = corrective(legacy5, steps, method="extensive", **kwargs)
    assert screening.status == extensive.status == "optimal"
    assert screening.objective == pytest.approx(extensive.objective, rel=1e-6)
    assert screening.total_slack_mw == pytest.approx(extensive.total_slack_mw, rel=1e-5)
    assert screening.total_slack_mw > 1.0  # the slack is what makes it feasible, and it is reported
    assert screening.history["rows"].iloc[-1] < extensive.history["rows"].iloc[-1]
    for res in (screening, extensive):
        assert res.security == "corrective" and res.restore_intervals == steps
        assert res.max_base_loading <= 1 + 1e-6  # base limits stay hard
        # the slack reported is the violations of the relaxed rows, recomputed by direct power flows
        assert res.total_slack_mw == pytest.approx(recomputed_slack(legacy5, res, steps, soft_slack), rel=1e-4, abs=1e-3)
        gen = legacy5.gen.set_index("gen")
        traj = res.corrective_dispatch
        if len(traj):  # unit limits and balance of the trajectories stay hard
            q = traj.set_index("gen")["p_mw"]
            assert (q >= gen.loc[q.index, "pmin_mw"] - 1e-6).all() and (q <= gen.loc[q.index, "pmax_mw"] + 1e-6).all()
            loads = legacy5.case_loads(legacy5.load_profile_mw.shape[1])
            sums = traj.groupby(["outaged_branch", "interval", "step"])["p_mw"].sum()
            for (_, interval, _), value in sums.items():
                assert value == pytest.approx(loads[:, interval - 1].sum(), rel=1e-6)


@pytest.mark.parametrize("soft_slack", ["row", "branch"])
def test_soft_corrective_never_costs_more_than_hard_and_equals_it_at_a_high_penalty(legacy14_tight, soft_slack):
    net = legacy14_tight
    hard = corrective(net, 2, contingencies="all")
    preventive = solve_lascopf(net, contingencies="all")
    assert hard.status == "optimal" and not hard.corrective_dispatch.empty  # the limits bind: trajectories needed
    assert hard.objective < preventive.objective * (1 - 1e-5)
    cheap = corrective(net, 2, contingencies="all", soft_limit_penalty=1.0, soft_slack=soft_slack)
    dear = corrective(net, 2, contingencies="all", soft_limit_penalty=1e4, soft_slack=soft_slack)
    assert cheap.status == dear.status == "optimal"
    assert cheap.objective < hard.objective * (1 - 1e-6) and cheap.total_slack_mw > 1e-3
    assert dear.objective <= hard.objective * (1 + 1e-7)
    assert dear.objective == pytest.approx(hard.objective, rel=1e-6) and dear.total_slack_mw < 1e-4
    assert cheap.total_slack_mw == pytest.approx(recomputed_slack(net, cheap, 2, soft_slack), rel=1e-4, abs=1e-3)
