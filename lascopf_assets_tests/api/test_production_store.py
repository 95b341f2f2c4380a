"""The results API on the production profile: it reads the storage the assets wrote, PostgreSQL and the S3 lake.

Real servers (``servers.py``): a scratch database for the data (PostgresTableIOManager) and one for the
Dagster instance (``docker/dagster.yaml``), a fresh bucket on moto's S3 server for the landing files and
the Parquet lake. One module-scoped materialization on ``LASCOPF_PROFILE=production`` (resources from
``defs()``): topology, three days ingested as one single-run range (a garbage object rejected on the first),
``rejected_landing_files``, one of two feeders' ``phase_assignment`` and ``phase_recommendations``, the
second day's dispatch and the third's without contingencies (no binding one: an empty table). Then
``python -m lascopf_assets.api`` (what ``make api`` runs) on a free loopback port with the same
environment, and every answer is compared with the rows read back independently: the tables with
plain psycopg queries, the lake objects with boto3 and pyarrow.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import time
import uuid
from pathlib import Path

import boto3
import dagster as dg
import httpx
import pandas as pd
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from lascopf_assets.api.launcher import DISPATCH_ASSETS
from lascopf_assets.api.readers import DISPATCH_TABLES
from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone
from lascopf_assets_tests import dev_servers
from lascopf_assets_tests.api.conftest import start_api, stop
from lascopf_assets_tests.local_zone import INGEST
from lascopf_assets_tests.servers import TEST_ACCESS_KEY, TEST_REGION, TEST_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
DAYS = ["2023-01-01", "2023-01-02", "2023-01-03"]
DISPATCH_DAY, QUIET_DAY = DAYS[1], DAYS[2]  # QUIET_DAY: dispatched without contingencies, none binding
DISPATCHED = [DISPATCH_DAY, QUIET_DAY]
NEVER = "2023-03-01"  # a daily partition nothing was materialized for
GARBAGE_KEY = f"incoming/{DAYS[0]}/meter_readings_{DAYS[0]}_extra.csv"
PHASE_CONFIG = {"max_changes": 1, "curve_max_changes": 2, "time_limit_seconds": 10}


def _pg_env(prefix: str, dsn: str) -> dict[str, str]:
    pg = conninfo_to_dict(dsn)
    return {f"{prefix}_HOST": pg.get("host", "127.0.0.1"), f"{prefix}_PORT": str(pg.get("port", 5432)),
            f"{prefix}_USER": pg.get("user", "postgres"), f"{prefix}_PASSWORD": pg.get("password", ""),
            f"{prefix}_DB": pg["dbname"]}


class Deployment:
    """What the assets wrote and where; ``get`` asks the API."""

    def __init__(self, data_dsn, s3, bucket, api, env, feeders, instance_dsn):
        self.data_dsn, self.s3, self.bucket, self.api, self.env = data_dsn, s3, bucket, api, env
        self.feeders, self.instance_dsn = feeders, instance_dsn

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.api + path, timeout=60)

    def pg(self, query: str, *params) -> pd.DataFrame:
        with psycopg.connect(self.data_dsn) as conn:
            cur = conn.execute(query, params)
            return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])

    def pg_day(self, table: str, day: str) -> pd.DataFrame:
        start = pd.Timestamp(day, tz="UTC")
        query = sql.SQL("SELECT * FROM {} WHERE timestamp >= %s AND timestamp < %s").format(sql.Identifier(table))
        with psycopg.connect(self.data_dsn) as conn:
            return self.pg(query.as_string(conn), start.to_pydatetime(), (start + pd.Timedelta(days=1)).to_pydatetime())

    def lake(self, asset: str, key: str | None = None) -> pd.DataFrame:
        name = f"lake/{asset}/{key}.parquet" if key else f"lake/{asset}.parquet"
        body = self.s3.get_object(Bucket=self.bucket, Key=name)["Body"].read()
        return pd.read_parquet(io.BytesIO(body))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, pg_admin_dsn, s3_endpoint):
    tmp = tmp_path_factory.mktemp("api_production")
    zone = write_demo_zone(tmp / "zone", DemoZoneParams(feeders=2, feeder_junctions=(4, 3), meters_per_junction=(3, 4),
                                                        days=len(DAYS), glitches=4, seed=11))
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id=TEST_ACCESS_KEY,
                      aws_secret_access_key=TEST_SECRET_KEY, region_name=TEST_REGION)
    bucket = f"api-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    for path in zone.paths:  # the utility's day folders in the landing bucket
        s3.upload_file(str(path), bucket, f"incoming/{path.stem.rsplit('_', 1)[1]}/{path.name}")
    s3.put_object(Bucket=bucket, Key=GARBAGE_KEY, Body=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")

    with dev_servers.scratch_database(pg_admin_dsn) as data_dsn, \
            dev_servers.scratch_database(pg_admin_dsn) as instance_dsn, pytest.MonkeyPatch.context() as mp:
        home = tmp / "dagster_home"
        home.mkdir()
        shutil.copy(ROOT / "docker" / "dagster.yaml", home / "dagster.yaml")  # the production instance
        env = {
            "LASCOPF_PROFILE": "production", "DAGSTER_HOME": str(home), "LASCOPF_DATA_DIR": str(tmp / "data"),
            "LASCOPF_TOPOLOGY_DIR": str(zone.topology_path.parent),
            **_pg_env("LASCOPF_PG", data_dsn), **_pg_env("DAGSTER_PG", instance_dsn),
            "LASCOPF_S3_ENDPOINT_URL": s3_endpoint, "LASCOPF_S3_BUCKET": bucket, "LASCOPF_S3_PREFIX": "lake",
            "LASCOPF_S3_ACCESS_KEY": TEST_ACCESS_KEY, "LASCOPF_S3_SECRET_KEY": TEST_SECRET_KEY,
            "LASCOPF_S3_REGION": TEST_REGION, "LASCOPF_S3_LANDING_BUCKET": bucket,
            "LASCOPF_S3_LANDING_PREFIX": "incoming", "LASCOPF_EXECUTOR": "in_process",
        }
        for name in [k for k in os.environ if k.startswith(("LASCOPF_", "DAGSTER_"))]:
            mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        from lascopf_assets.definitions import defs

        d = defs()
        instance = dg.DagsterInstance.get()
        procs = []
        try:
            def run(selection, **kwargs):
                result = dg.materialize(list(d.assets), selection=selection, resources=d.resources, instance=instance,
                                        **kwargs)
                assert result.success, selection
                return result

            started = time.monotonic()
            run(["grid_topology"])
            feeders = sorted(instance.get_dynamic_partitions("feeders"))
            assert len(feeders) == 2
            run(INGEST, tags={"dagster/asset_partition_range_start": DAYS[0],
                              "dagster/asset_partition_range_end": DAYS[-1]})
            run(["rejected_landing_files"])
            run(["phase_assignment"], partition_key=feeders[0],
                run_config={"ops": {"phase_assignment": {"config": PHASE_CONFIG}}})
            run(["phase_recommendations"])
            run(["powersystems_system", *DISPATCH_ASSETS], partition_key=DISPATCH_DAY)
            run(["powersystems_system", *DISPATCH_ASSETS], partition_key=QUIET_DAY,
                run_config={"ops": {"lascopf_dispatch": {"config": {"contingencies": "none"}}}})
            print(f"materialized in {time.monotonic() - started:.1f} s")
            # the API process as `make api` starts it: its whole configuration from this environment
            base = {k: v for k, v in os.environ.items() if not k.startswith(("LASCOPF_", "DAGSTER_"))}
            api_env = {**base, **env, "LASCOPF_API_TOKEN": secrets.token_urlsafe(24),
                       "LASCOPF_DAGSTER_PORT": str(dev_servers.free_port())}  # no webserver: launches fail after the checks
            api, url = start_api(api_env, tmp / "api.log")
            procs.append(api)
            yield Deployment(data_dsn, s3, bucket, url, api_env, feeders, instance_dsn)
        finally:
            for proc in procs:
                stop(proc)
            instance.dispose()


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def assert_same_rows(api_rows: list[dict], stored: pd.DataFrame, keys: list[str]) -> None:
    """The API's rows are the stored rows: same columns, same count, the same values row by row."""
    got = _frame(api_rows)
    assert len(got) == len(stored) > 0
    assert set(got.columns) == set(stored.columns)
    for column in stored.columns:
        if pd.api.types.is_datetime64_any_dtype(stored[column]):
            got[column] = pd.to_datetime(got[column], utc=True)
            stored = stored.assign(**{column: pd.to_datetime(stored[column], utc=True)})
    got = got.sort_values(keys, ignore_index=True)
    stored = stored.sort_values(keys, ignore_index=True)
    for column in stored.columns:
        mine, theirs = got[column], stored[column]
        if pd.api.types.is_numeric_dtype(theirs) and not pd.api.types.is_bool_dtype(theirs):
            assert mine.astype(float).tolist() == pytest.approx(theirs.astype(float).tolist(), nan_ok=True), column
        else:
            assert mine.tolist() == theirs.tolist(), column


# -- phase balancing -----------------------------------------------------------------------------

def test_phase_recommendation_is_the_lakes_moves_and_the_tables_curve(deployment):
    feeder = deployment.feeders[0]
    assert deployment.get("/feeders").json() == {"feeders": [feeder]}
    r = deployment.get(f"/feeders/{feeder}/phase-recommendation")
    assert r.status_code == 200, r.text
    body = r.json()
    moves = deployment.lake("phase_assignment", feeder)
    assert [(c["junction"], c["from_phase"], c["to_phase"]) for c in body["changes"]] == list(
        moves[["junction", "from_phase", "to_phase"]].astype(str).itertuples(index=False, name=None))
    curve = deployment.pg("SELECT * FROM phase_recommendations WHERE feeder = %s ORDER BY k", feeder)
    assert [p["k"] for p in body["curve"]] == curve["k"].tolist() == [0, 1, 2]
    assert len(body["changes"]) == 1  # the zone is skewed enough for the one move K = 1 allows
    assert_same_rows(body["curve"], curve[["k", "recommended", "status", "imbalance", "bound", "gap", "changes",
                                           "moves"]], ["k"])
    [chosen] = curve[curve["recommended"]].to_dict("records")
    assert chosen["k"] == PHASE_CONFIG["max_changes"]
    assert (body["status"], body["window"], body["run_id"]) == (chosen["status"], chosen["window"], chosen["run_id"])
    assert body["imbalance"] == pytest.approx(chosen["imbalance"])
    assert body["initial_imbalance"] == pytest.approx(chosen["initial_imbalance"])
    assert pd.Timestamp(body["computed_at"]) == pd.Timestamp(chosen["computed_at"])
    assert body["impact"] is None  # phase_change_impact was not materialized


def test_a_feeder_never_balanced_is_a_404_naming_the_balanced_ones(deployment):
    balanced, other = deployment.feeders
    r = deployment.get(f"/feeders/{other}/phase-recommendation")
    assert r.status_code == 404
    assert r.json()["detail"] == f"feeder {other!r} has no phase_assignment (feeders with one: {balanced})"


# -- dispatch --------------------------------------------------------------------------------------

def test_dispatch_summary_and_tables_are_the_tables_rows(deployment):
    assert deployment.get("/dispatch").json() == {"days": DISPATCHED}  # not the premade empty day partitions
    for day in DISPATCHED:
        r = deployment.get(f"/dispatch/{day}")
        assert r.status_code == 200, r.text
        body = r.json()
        summary = deployment.pg_day("lascopf_dispatch", day)
        assert len(summary) == 1
        assert_same_rows([body["summary"]], summary, ["timestamp"])
        assert body["summary"]["status"] == "optimal"
        for table in DISPATCH_TABLES:
            stored = deployment.pg_day(table, day)
            assert body["rows"][table] == len(stored)
            r = deployment.get(f"/dispatch/{day}/{table}")
            assert r.status_code == 200, (day, table, r.text)
            if stored.empty:
                assert r.json()["rows"] == []
                continue
            keys = [c for c in ("timestamp", "gen", "branch", "bus", "outaged_branch", "monitored_branch")
                    if c in stored]
            assert_same_rows(r.json()["rows"], stored, keys)
        assert body["rows"]["bus_lmps"] > 0 and body["rows"]["generator_dispatch"] > 0
    # the N-1 day binds some contingency; the quiet day has none: an empty table of a dispatched day, not a 404
    assert deployment.get(f"/dispatch/{DISPATCH_DAY}").json()["rows"]["binding_contingencies"] > 0
    assert deployment.get(f"/dispatch/{QUIET_DAY}").json()["rows"]["binding_contingencies"] == 0


def test_a_day_never_dispatched_is_a_404_naming_the_dispatched_days(deployment):
    ingested_only = DAYS[0]
    span = f"{DISPATCHED[0]} .. {DISPATCHED[1]} (2)"
    for day in (ingested_only, NEVER):
        r = deployment.get(f"/dispatch/{day}")
        assert r.status_code == 404
        assert r.json()["detail"] == f"no lascopf_dispatch for {day} (days with one: {span})"
        r = deployment.get(f"/dispatch/{day}/bus_lmps")
        assert r.status_code == 404
        assert r.json()["detail"] == f"no bus_lmps for {day} (days with a dispatch: {span})"


# -- data quality ----------------------------------------------------------------------------------

def test_quality_per_day_is_counted_in_the_tables(deployment):
    assert deployment.get("/quality").json() == {"days": DAYS}
    rejected = deployment.lake("rejected_landing_files")
    for day in DAYS:
        r = deployment.get(f"/quality/{day}")
        assert r.status_code == 200, r.text
        q = r.json()
        raw = deployment.pg_day("raw_measurements", day)
        valid = deployment.pg_day("validated_loads", day)
        quarantine = deployment.pg_day("quarantined_measurements", day)
        assert q["rows_in"] == len(raw) > 0
        assert q["rows_valid"] == int(valid["intervals"].sum()) > 0 and q["hours_valid"] == len(valid)
        assert q["rows_quarantined"] == len(quarantine)
        assert q["quarantined_by_rule"] == {str(k): int(v) for k, v in quarantine["rule"].value_counts().items()}
        assert q["rows_redelivered"] == len(raw) - q["rows_valid"] - len(quarantine)
        mine = rejected[rejected["day"].isna() | (rejected["day"].astype("string").str[:10] == day)]
        assert [f["file"] for f in q["rejected_files"]] == mine["file"].tolist()
        assert [f["reason"] for f in q["rejected_files"]] == mine["reason"].tolist()
    # the demo's bad lines are quarantined; the garbage object is the first day's rejected file
    assert sum(deployment.get(f"/quality/{day}").json()["rows_quarantined"] for day in DAYS) == 4
    first = deployment.get(f"/quality/{DAYS[0]}").json()["rejected_files"]
    assert [f["file"] for f in first] == [f"{deployment.bucket}/{GARBAGE_KEY}"] and first[0]["day"] == DAYS[0]
    assert all(deployment.get(f"/quality/{day}").json()["rejected_files"] == [] for day in DAYS[1:])


def test_a_day_never_ingested_is_a_404_naming_the_ingested_days(deployment):
    r = deployment.get(f"/quality/{NEVER}")
    assert r.status_code == 404
    assert r.json()["detail"] == f"no raw_measurements for {NEVER} (days ingested: {DAYS[0]} .. {DAYS[-1]} (3))"


# -- execute: the checks before a launch read the production storage -------------------------------

def test_launches_are_checked_against_the_stored_days_and_feeders(deployment):
    auth = {"Authorization": f"Bearer {deployment.env['LASCOPF_API_TOKEN']}"}
    r = httpx.post(f"{deployment.api}/runs/dispatch/{NEVER}", headers=auth, timeout=60)
    assert r.status_code == 404
    assert r.json()["detail"] == f"no junction_aggregates for {NEVER}: ingest the day before dispatching it"
    r = httpx.post(f"{deployment.api}/runs/phase-balancing/TR9", headers=auth, timeout=60)
    assert r.status_code == 404
    assert r.json()["detail"] == f"unknown feeder 'TR9' (feeders of grid_topology: {', '.join(deployment.feeders)})"
    # an ingested day and a known feeder pass the checks: the launch itself fails (no Dagster listens), a 502
    for path in (f"/runs/dispatch/{DAYS[0]}", f"/runs/phase-balancing/{deployment.feeders[1]}"):
        r = httpx.post(deployment.api + path, headers=auth, timeout=60)
        assert r.status_code == 502, r.text
        detail = r.json()["detail"]
        assert detail.startswith(f"Dagster webserver at 127.0.0.1:{deployment.env['LASCOPF_DAGSTER_PORT']} is not "
                                 "reachable: ") and "Connection refused" in detail
        assert "\n" not in detail and "query" not in detail  # one line, not the GraphQL query the client quotes


# -- metrics ---------------------------------------------------------------------------------------

def test_metrics_read_the_production_instance_and_the_stored_rejections(deployment):
    text = deployment.get("/metrics").text
    assert "lascopf_metrics_instance_up 1.0" in text
    assert 'lascopf_solver_seconds_count{kind="phase_balancing"} 1.0' in text
    assert 'lascopf_solver_seconds_count{kind="lascopf_dispatch"} 2.0' in text
    assert 'lascopf_landing_files_rejected{kind="unreadable",source="s3"} 1.0' in text
    # the landing age is the landing bucket's newest day folder (as the S3 sensor sees it), not the local cache
    listed = deployment.s3.list_objects_v2(Bucket=deployment.bucket, Prefix=f"incoming/{DAYS[-1]}/")["Contents"]
    newest = max(o["LastModified"].timestamp() for o in listed)
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("lascopf_landing_")}
    assert values["lascopf_landing_files"] == len(listed) == 1
    assert values["lascopf_landing_newest_file_age_seconds"] == pytest.approx(time.time() - newest, abs=5)
    later = f"incoming/date={NEVER}/meter_readings_{NEVER}.csv"  # a new day arrives (Hive-style folder), not ingested
    deployment.s3.put_object(Bucket=deployment.bucket, Key=later, Body=b"meter_id,timestamp,kwh\n")
    deployment.s3.put_object(Bucket=deployment.bucket, Key=f"incoming/{NEVER}/notes.txt", Body=b"refused name")
    try:
        text = deployment.get("/metrics").text
        values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                  if line.startswith("lascopf_landing_")}
        assert values["lascopf_landing_files"] == 1  # the new object; the refused key is no landing file
        assert values["lascopf_landing_newest_file_age_seconds"] < 5
    finally:
        for key in (later, f"incoming/{NEVER}/notes.txt"):
            deployment.s3.delete_object(Bucket=deployment.bucket, Key=key)


# -- the store's configuration and failures --------------------------------------------------------

def test_days_and_counts_come_from_the_server(deployment):
    """A plain table (made by hand, or before the day layout) lists its days with one DISTINCT query, a day-partitioned
    one per partition; a day's counts are the server's count and sum."""
    from lascopf_assets.api.store import ProductionStore, days_with_rows

    store = ProductionStore.from_env(deployment.env)
    stamps = pd.to_datetime(["2023-02-01T23:30Z", "2023-02-01T00:00Z", "2023-02-03T05:00Z"], utc=True)
    with psycopg.connect(deployment.data_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE plain_probe (timestamp timestamptz, v float8)")
        conn.cursor().executemany("INSERT INTO plain_probe VALUES (%s, 1.0)", [(t.to_pydatetime(),) for t in stamps])
    try:
        assert store.tables.table_layout("plain_probe") == "plain"
        assert days_with_rows(store.tables, "plain_probe") == ["2023-02-01", "2023-02-03"]
        valid = store.day_counts("validated_loads", DAYS[0], sum_column="intervals")
        stored = deployment.pg_day("validated_loads", DAYS[0])
        assert (valid.rows, valid.total) == (len(stored), float(stored["intervals"].sum()))
        # a column the table lacks (written before it existed) is no total, not an error
        assert store.day_counts("validated_loads", DAYS[0], sum_column="no_such_column").total is None
        assert store.day_counts("validated_loads", NEVER) is None
        assert store.tables.table_layout("raw_measurements") in ("day_partitions", "hypertable")
        assert days_with_rows(store.tables, "raw_measurements") == DAYS
    finally:
        with psycopg.connect(deployment.data_dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE plain_probe")
        store.tables.close()


def test_an_unreachable_results_database_is_a_503_saying_so(deployment):
    from fastapi.testclient import TestClient

    from lascopf_assets.api.app import create_app
    from lascopf_assets.api.settings import ApiSettings
    from lascopf_assets.api.store import ProductionStore

    env = {**deployment.env, "LASCOPF_PG_PORT": str(dev_servers.free_port())}  # nothing listens there
    client = TestClient(create_app(ApiSettings.from_env(env), store=ProductionStore.from_env(env)))
    for path in (f"/quality/{DAYS[0]}", f"/dispatch/{DISPATCH_DAY}", "/dispatch"):
        r = client.get(path)
        assert r.status_code == 503, r.text
        assert r.json()["detail"].startswith("results storage unavailable: cannot connect to PostgreSQL")
    assert client.get("/feeders").status_code == 200  # the S3 lake still answers


def test_an_incomplete_environment_names_what_is_missing(deployment):
    from lascopf_assets.api.store import ProductionStore, StoreConfigError

    env = {k: v for k, v in deployment.env.items() if k not in ("LASCOPF_PG_HOST", "LASCOPF_S3_BUCKET")}
    with pytest.raises(StoreConfigError, match="needs LASCOPF_PG_HOST, LASCOPF_S3_BUCKET"):
        ProductionStore.from_env(env)
