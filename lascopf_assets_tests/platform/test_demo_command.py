"""`lascopf demo` end to end on a tiny zone: generates, materializes every asset, prints the summary."""

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd

from lascopf_assets.cli import main
from lascopf_assets.cli.demo import LV_MASTER

ROOT = Path(__file__).resolve().parents[2]


def test_demo_materializes_everything_and_summarizes(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.local.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("LASCOPF_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LASCOPF_PROFILE", "local")
    # K = 0..1 on the curve: the LV feeder's physics check solves 3 time series of 1,440 minutes, not 6
    assert main(["demo", "--days", "2", "--feeders", "2", "--junctions", "2", "--curve-max", "1"]) == 0
    out = capsys.readouterr().out
    lv = LV_MASTER.is_file()  # the European LV feeder joins the zone where ../shared/data has it
    assert "generated demo zone: 2 feeders, 4 junctions (1, 3 per feeder)" in out
    if lv:
        assert ("added the IEEE European LV feeder as feeder lv-tr1: 55 junctions, 55 meters, 79,200 readings of 1 min "
                "on 2023-01-01 (peak 57.4 kW)") in out
    else:
        assert f"European LV feeder skipped: {LV_MASTER} is absent" in out
    assert "rows ingested" in out and f"junctions           {59 if lv else 4}" in out
    # the 12 bad lines the generator appends (two of each kind) are exactly what is quarantined
    assert "12 bad lines" in out
    assert ("rows quarantined    12  by rule: {'timestamp_without_utc_offset': 2, 'kwh_not_numeric': 2, "
            "'meter_unknown': 2, 'kwh_negative': 2, 'timestamp_off_interval': 2, 'duplicate_reading': 2}") in out
    assert "rows re-delivered   0" in out and "files rejected      0" in out

    # the later stages print their outcome: phase changes with imbalance before/after, the dispatch
    windows = "2023-01-01 .. 2023-01-01, 2023-01-01 .. 2023-01-02" if lv else "2023-01-01 .. 2023-01-02"
    assert f"phase balancing per feeder (K = 5 each, {windows}), ranked by imbalance removed per change" in out
    table = out[out.index("ranked by imbalance removed per change"):]
    assert "  TR1 " in table and "  TR2 " in table and "optimal" in table
    # the curve stops at the demo's K and says how much of it is proven (tiny feeders: all of it)
    points = 6 if lv else 4
    assert (f"trade-off curve K = 0..1 per feeder: {points} of {points} points certified optimal; "
            "--curve-max 10 adds K = 2..10 with their proven gaps (slower)") in table
    # the synthetic feeders have no circuit model: the physics check says so instead of passing
    assert "physics check: no OpenDSS model for TR1, TR2 (synthetic feeders;" in table
    assert "dispatch 2023-01-02: optimal" in out
    if lv:  # the real circuit's check: the feeder as published (1,440 minutes), then with the recommended moves
        line = next(x for x in table.splitlines() if x.startswith("  physics check lv-tr1"))
        assert line.startswith("  physics check lv-tr1 (OpenDSS, 1,440 x 1 min, 5 change(s)): max VUF 1.251 -> ")
        neutral = line[line.index("neutral ") + 8:line.index(" A,")].split(" -> ")
        assert float(neutral[0]) == 129.9 and float(neutral[1]) < 129.9
        assert "losses 5.06 -> " in line
        report = (tmp_path / "data" / "exports" / "phase_balancing" / "lv-tr1" / "latest.html").read_text()
        assert "Before vs after the recommended changes" in report and "Against K along the trade-off curve" in report
        assert "1440 of 1440" in report
    synthetic_report = (tmp_path / "data" / "exports" / "phase_balancing" / "TR1" / "latest.html").read_text()
    assert "Not checked: no OpenDSS model for feeder TR1" in synthetic_report

    # every materializable asset has a materialization on the persistent instance
    instance = dg.DagsterInstance.get()
    from lascopf_assets.definitions import defs

    graph = defs().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        if graph.get(key).is_materializable:
            assert instance.get_latest_materialization_event(key) is not None, key.to_user_string()

    aggregates = pd.read_parquet(tmp_path / "data" / "lake" / "junction_aggregates")
    assert aggregates["junction"].nunique() == (59 if lv else 4) and len(aggregates["timestamp"].unique()) == 48

    # running it again reuses the zone and succeeds (idempotent partitions); without the LV feeder, the one an
    # earlier run added is taken out again (its model is not left registered)
    assert main(["demo", "--days", "2", "--feeders", "2", "--junctions", "2", "--no-lv-feeder"]) == 0
    out = capsys.readouterr().out
    assert "demo zone already in" in out
    assert "European LV feeder skipped: --no-lv-feeder" in out
    assert ("lv-tr1, added by an earlier run, is taken out of" in out) == lv
    assert "junctions           4" in out and "physics check: no OpenDSS model for TR1, TR2 (" in out
    assert sorted(instance.get_dynamic_partitions("feeders")) == ["TR1", "TR2"]


def test_demo_says_why_the_lv_feeder_is_skipped(tmp_path, capsys):
    from lascopf_assets.cli.demo import _ensure_lv_feeder

    missing = tmp_path / "nowhere" / "Master.dss"
    assert _ensure_lv_feeder(tmp_path, missing, dt.date(2023, 1, 1)) is None
    out = capsys.readouterr().out
    assert out.startswith(f"European LV feeder skipped: {missing} is absent (the published IEEE European LV test feeder is "
                          "expected in ../shared/data/ieee_european_lv beside the project;")


def test_demo_needs_dagster_home(monkeypatch, capsys):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["demo", "--days", "1"]) == 2
    assert "DAGSTER_HOME is not set" in capsys.readouterr().err


def test_the_curve_line_names_the_feeders_whose_points_are_not_certified():
    from lascopf_assets.cli.demo import _curve_line

    line = _curve_line(10, {"TR1": (11, 11), "TR3": (6, 11), "TR4": (7, 11)})
    assert line == ("  trade-off curve K = 0..10 per feeder: 24 of 33 points certified optimal "
                    "(not certified within the time limit: TR3 6/11, TR4 7/11; see each report's gaps)")
