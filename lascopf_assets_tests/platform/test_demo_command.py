"""`lascopf demo` end to end on a tiny zone: generates, materializes every asset, prints the summary."""

import shutil
from pathlib import Path

import dagster as dg
import pandas as pd

from lascopf_assets.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_demo_materializes_everything_and_summarizes(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.local.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("LASCOPF_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LASCOPF_PROFILE", "local")
    assert main(["demo", "--days", "2", "--feeders", "2", "--junctions", "2"]) == 0
    out = capsys.readouterr().out
    assert "generated demo zone: 2 feeders, 4 junctions (1, 3 per feeder)" in out
    assert "rows ingested" in out and "junctions           4" in out
    # the 12 bad lines the generator appends (two of each kind) are exactly what is quarantined
    assert "12 bad lines" in out
    assert ("rows quarantined    12  by rule: {'timestamp_without_utc_offset': 2, 'kwh_not_numeric': 2, "
            "'meter_unknown': 2, 'kwh_negative': 2, 'timestamp_off_interval': 2, 'duplicate_reading': 2}") in out
    assert "rows re-delivered   0" in out and "files rejected      0" in out

    # the later stages print their outcome: phase changes with imbalance before/after, the dispatch
    assert "phase balancing per feeder (K = 5 each, 2023-01-01 .. 2023-01-02), ranked by imbalance removed per change" in out
    table = out[out.index("ranked by imbalance removed per change"):]
    assert "  TR1 " in table and "  TR2 " in table and "optimal" in table
    # the curve stops at the demo's K and says how much of it is proven (tiny feeders: all of it)
    assert ("trade-off curve K = 0..5 per feeder: 12 of 12 points certified optimal; "
            "--curve-max 10 adds K = 6..10 with their proven gaps (slower)") in table
    # the synthetic feeders have no circuit model: the physics check says so instead of passing
    assert "physics check: no OpenDSS model for TR1, TR2 (synthetic feeders;" in table
    assert "dispatch 2023-01-02: optimal" in out

    # every materializable asset has a materialization on the persistent instance
    instance = dg.DagsterInstance.get()
    from lascopf_assets.definitions import defs

    graph = defs().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        if graph.get(key).is_materializable:
            assert instance.get_latest_materialization_event(key) is not None, key.to_user_string()

    aggregates = pd.read_parquet(tmp_path / "data" / "lake" / "junction_aggregates")
    assert aggregates["junction"].nunique() == 4 and len(aggregates["timestamp"].unique()) == 48

    # running it again reuses the zone and succeeds (idempotent partitions)
    assert main(["demo", "--days", "2", "--feeders", "2", "--junctions", "2"]) == 0
    assert "demo zone already in" in capsys.readouterr().out


def test_demo_needs_dagster_home(monkeypatch, capsys):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["demo", "--days", "1"]) == 2
    assert "DAGSTER_HOME is not set" in capsys.readouterr().err


def test_the_curve_line_names_the_feeders_whose_points_are_not_certified():
    from lascopf_assets.cli.demo import _curve_line

    line = _curve_line(10, {"TR1": (11, 11), "TR3": (6, 11), "TR4": (7, 11)})
    assert line == ("  trade-off curve K = 0..10 per feeder: 24 of 33 points certified optimal "
                    "(not certified within the time limit: TR3 6/11, TR4 7/11; see each report's gaps)")
