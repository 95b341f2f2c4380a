"""The results API against real storage written by real materializations (conftest: ``lascopf demo``, 1 day)."""

from __future__ import annotations

import re
import time

import dagster as dg
import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from lascopf_assets_tests.api.conftest import DAY


def lake(platform, asset: str, key: str | None = None) -> pd.DataFrame:
    base = platform.data / "lake" / asset
    return pd.read_parquet(f"{base}/{key}.parquet" if key else f"{base}.parquet")


def instance(platform) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(platform.env["DAGSTER_HOME"])


def latest_metadata(platform, asset: str, partition: str) -> dict:
    records = instance(platform).fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1).records
    event = records[0].event_log_entry
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def get(platform, path: str, **kwargs) -> httpx.Response:
    return httpx.get(platform.api + path, timeout=30, **kwargs)


def test_quality_of_a_day_is_the_lakes_counts_and_the_validations_own(platform):
    q = get(platform, f"/quality/{DAY}").json()
    raw = lake(platform, "raw_measurements", DAY)
    valid = lake(platform, "validated_loads", DAY)
    quarantine = lake(platform, "quarantined_measurements", DAY)
    assert q["rows_in"] == len(raw) and q["rows_valid"] == int(valid["intervals"].sum())
    assert q["rows_quarantined"] == len(quarantine) and q["hours_valid"] == len(valid)
    assert q["quarantined_by_rule"] == quarantine["rule"].value_counts().to_dict()
    # the same accounting validated_loads recorded when it ran
    meta = latest_metadata(platform, "validated_loads", DAY)
    assert (q["rows_in"], q["rows_valid"], q["rows_quarantined"], q["rows_redelivered"]) == (
        meta["rows_in"], meta["rows_valid"], meta["rows_quarantined"], meta["rows_redelivered"])
    assert q["rows_quarantined"] == 12 and q["rejected_files"] == []  # the demo's 12 bad lines, no rejected file
    assert get(platform, "/quality").json() == {"days": [DAY]}


def test_phase_recommendation_is_the_stored_moves_and_curve(platform):
    assert get(platform, "/feeders").json() == {"feeders": ["TR1", "TR2"]}
    stored = lake(platform, "phase_recommendations")
    for feeder in ("TR1", "TR2"):
        r = get(platform, f"/feeders/{feeder}/phase-recommendation").json()
        moves = lake(platform, "phase_assignment", feeder)
        assert [(c["junction"], c["from_phase"], c["to_phase"]) for c in r["changes"]] == list(
            moves[["junction", "from_phase", "to_phase"]].itertuples(index=False, name=None))
        mine = stored[stored["feeder"] == feeder].sort_values("k")
        assert [p["k"] for p in r["curve"]] == mine["k"].tolist() == [0, 1, 2, 3, 4, 5]
        assert [p["imbalance"] for p in r["curve"]] == pytest.approx(mine["imbalance"].tolist())
        meta = latest_metadata(platform, "phase_assignment", feeder)
        assert r["status"] == meta["status"] == "optimal"
        assert r["initial_imbalance"] == pytest.approx(meta["imbalance_before"])
        assert r["imbalance"] == pytest.approx(meta["imbalance_after"]) and r["window"] == meta["window"]
        impact = platform.data / "lake" / "phase_change_impact" / f"{feeder}.parquet"
        if impact.exists():  # where the impact asset was written: its rows
            assert len(r["impact"]) == len(pd.read_parquet(impact))
        else:
            assert r["impact"] is None


def test_dispatch_of_a_day_is_the_stored_summary_and_tables(platform):
    assert get(platform, "/dispatch").json() == {"days": [DAY]}
    d = get(platform, f"/dispatch/{DAY}").json()
    summary = lake(platform, "lascopf_dispatch", DAY).iloc[0]
    assert d["summary"]["status"] == summary["status"] == "optimal"
    assert d["summary"]["objective"] == pytest.approx(summary["objective"])
    assert set(d["rows"]) == {"generator_dispatch", "branch_flows", "bus_lmps", "binding_contingencies",
                              "corrective_dispatch", "trajectory_flows"}
    for table in d["rows"]:
        frame = lake(platform, table, DAY)
        assert d["rows"][table] == len(frame)
        rows = get(platform, f"/dispatch/{DAY}/{table}").json()["rows"]
        assert len(rows) == len(frame)
    lmps = get(platform, f"/dispatch/{DAY}/bus_lmps").json()["rows"]
    assert [r["lmp"] for r in lmps] == pytest.approx(lake(platform, "bus_lmps", DAY)["lmp"].tolist())


@pytest.mark.parametrize(("path", "status", "words"), [
    ("/quality/2023-1-01", 422, "pattern"),
    ("/quality/2023-02-30", 422, "not a calendar date"),
    ("/dispatch/2023-13-01", 422, "not a calendar date"),
    ("/quality/2024-06-01", 404, "no raw_measurements for 2024-06-01 (days ingested: 2023-01-01)"),
    ("/dispatch/2024-06-01", 404, "no lascopf_dispatch for 2024-06-01"),
    ("/dispatch/2023-01-01/nope", 422, "generator_dispatch"),
    ("/feeders/TR9/phase-recommendation", 404, "feeder 'TR9' has no phase_assignment (feeders with one: TR1, TR2)"),
    ("/runs/not-a-run", 422, "pattern"),
])
def test_bad_input_is_a_4xx_that_says_what_is_wrong(platform, path, status, words):
    r = get(platform, path, headers=platform.auth())
    assert r.status_code == status, r.text
    assert words in str(r.json()["detail"])


def test_execute_endpoints_need_the_token(platform):
    day = f"/runs/dispatch/{DAY}"
    assert httpx.post(platform.api + day).status_code == 401
    r = httpx.post(platform.api + day, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["detail"] == "invalid bearer token"
    # no token configured: refused, saying which variable to set (the read endpoints stay open)
    from lascopf_assets.api.app import create_app
    from lascopf_assets.api.settings import ApiSettings

    client = TestClient(create_app(ApiSettings(lake_dir=str(platform.data / "lake"))))
    r = client.post(day, headers=platform.auth())
    assert r.status_code == 503 and "LASCOPF_API_TOKEN" in r.json()["detail"]
    assert client.get(f"/quality/{DAY}").status_code == 200


def test_launch_through_dagster_graphql_returns_a_real_run(platform):
    r = httpx.post(f"{platform.api}/runs/phase-balancing/TR1", headers=platform.auth(), timeout=60)
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    run = instance(platform).get_run_by_id(run_id)
    assert run is not None and run.tags["dagster/partition"] == "TR1"
    assert {k.to_user_string() for k in run.asset_selection} == {"phase_assignment"}
    status = get(platform, f"/runs/{run_id}", headers=platform.auth())
    assert status.status_code == 200
    assert status.json() == {"run_id": run_id, "status": instance(platform).get_run_by_id(run_id).status.value}
    # the local instance queues runs for the daemon (none runs here): the run waits, known to Dagster
    assert status.json()["status"] in {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "SUCCESS"}

    d = httpx.post(f"{platform.api}/runs/dispatch/{DAY}", headers=platform.auth(), timeout=60)
    assert d.status_code == 202, d.text
    assert instance(platform).get_run_by_id(d.json()["run_id"]).tags["dagster/partition"] == DAY
    # what Dagster could not run is refused before launching
    r = httpx.post(f"{platform.api}/runs/dispatch/2024-06-01", headers=platform.auth())
    assert r.status_code == 404 and "ingest the day" in r.json()["detail"]
    r = httpx.post(f"{platform.api}/runs/phase-balancing/TR9", headers=platform.auth())
    assert r.status_code == 404 and "unknown feeder 'TR9'" in r.json()["detail"]
    r = get(platform, "/runs/00000000-0000-0000-0000-000000000000", headers=platform.auth())
    assert r.status_code == 404, r.text


def test_openapi_schema_is_published(platform):
    schema = get(platform, "/openapi.json").json()
    assert {"/quality/{day}", "/dispatch/{day}", "/dispatch/{day}/{table}", "/feeders/{feeder}/phase-recommendation",
            "/runs/dispatch/{day}", "/runs/phase-balancing/{feeder}", "/runs/{run_id}", "/metrics"} <= set(schema["paths"])


# -- metrics ---------------------------------------------------------------------------------------

def scrape(platform) -> dict[tuple[str, tuple], float]:
    text = get(platform, "/metrics").text
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        match = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)$", line)
        name, labels, value = match.group(1), match.group(3) or "", float(match.group(4))
        out[(name, tuple(sorted(re.findall(r'(\w+)="([^"]*)"', labels))))] = value
    return out


def value(m: dict, name: str, **labels) -> float:
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_by_what_a_materialization_recorded(platform):
    from lascopf_assets.definitions import defs
    from lascopf_assets_tests.local_zone import INGEST

    before = scrape(platform)
    assert value(before, "lascopf_metrics_instance_up") == 1
    # the demo's own runs are already counted: its day's valid readings, its two phase solves, its dispatch
    assert value(before, "lascopf_ingestion_rows_total", source="folder", outcome="valid") >= 1
    assert value(before, "lascopf_solver_seconds_count", kind="phase_balancing") == 2
    assert value(before, "lascopf_solver_seconds_count", kind="lascopf_dispatch") == 1
    assert value(before, "lascopf_last_solve_status", kind="lascopf_dispatch", partition=DAY, status="optimal") == 1

    d = defs()
    inst = instance(platform)
    with pytest.MonkeyPatch.context() as mp:
        for name in ("DAGSTER_HOME", "LASCOPF_DATA_DIR", "LASCOPF_PROFILE"):
            mp.setenv(name, platform.env[name])
        assert dg.materialize(list(d.assets), selection=INGEST, partition_key=DAY, resources=d.resources,
                              instance=inst).success
        assert dg.materialize(list(d.assets), selection=["phase_assignment"], partition_key="TR2", resources=d.resources,
                              instance=inst, run_config={"ops": {"phase_assignment": {"config": {
                                  "max_changes": 1, "curve_max_changes": 1, "time_limit_seconds": 10}}}}).success
    ingest = latest_metadata(platform, "validated_loads", DAY)
    phase = latest_metadata(platform, "phase_assignment", "TR2")
    after = scrape(platform)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    for outcome, key in (("valid", "rows_valid"), ("quarantined", "rows_quarantined"), ("redelivered", "rows_redelivered")):
        assert moved("lascopf_ingestion_rows_total", source="folder", outcome=outcome) == ingest[key]
    assert moved("lascopf_ingestion_rows_total", source="folder", outcome="valid") == 1393
    assert moved("lascopf_ingestion_rows_total", source="folder", outcome="quarantined") == 12
    assert moved("lascopf_solver_seconds_count", kind="phase_balancing") == 1
    assert moved("lascopf_solver_seconds_sum", kind="phase_balancing") == pytest.approx(phase["solve_seconds"])
    assert moved("lascopf_solver_seconds_count", kind="lascopf_dispatch") == 0
    assert value(after, "lascopf_phase_gap", feeder="TR2") == pytest.approx(phase["gap"])
    assert value(after, "lascopf_last_solve_status", kind="phase_balancing", partition="TR2", status=phase["status"]) == 1
    # sensor lag: the newest landing file's age
    newest = max(p.stat().st_mtime for p in (platform.data / "landing").iterdir() if not p.name.startswith("."))
    age = value(after, "lascopf_landing_newest_file_age_seconds")
    assert abs(age - (time.time() - newest)) < 5
    assert value(after, "lascopf_landing_files") == 1


# -- schemathesis ----------------------------------------------------------------------------------

def test_no_generated_request_gets_a_5xx(platform):
    """Every operation of the published schema with schemathesis-generated requests (the token sent, so the execute
    endpoints' validation is reached too): never a 5xx, a 4xx always says why, responses match the schema."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(f"{platform.api}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            response = case.call(base_url=platform.api, headers=platform.auth(), timeout=30)
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
            if 400 <= response.status_code < 500:
                assert response.json()["detail"], response.text  # a clear message
            # a day matching YYYY-MM-DD that is no calendar date (0000-00-00, 2023-02-30) is rightly a 422 naming it,
            # which schemathesis' positive-data check would call a valid request rejected
            case.validate_response(response, excluded_checks=[schemathesis.checks.positive_data_acceptance])

        check()
