"""docker/README.md's recipe "Outside compose", run as written: daemon, sensor ticks, runs, automation.

The recipe's shell block is taken from the README and run with bash in a scratch folder (the
repository's ``docker/``, ``.venv`` and ``workspace.yaml`` linked in): a ``.env`` with the names of
``.env.example`` pointing at the PostgreSQL on 127.0.0.1 (a scratch database for the Dagster
instance, another for the data) and moto's S3 server; the topology path filled in. Its two
long-running lines (the daemon, the UI) are started by the test, so it can stop them; the UI is
not needed here. The landing files of a 3-day zone go into the landing bucket; the test waits
until the daemon's sensors and automation have carried every day to ``junction_aggregates`` in
PostgreSQL and checks the rows against the core's own computation.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
import uuid
from pathlib import Path

import dagster as dg
import pandas as pd
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from lascopf_assets.lib.ingest.aggregation import aggregate_by_junction
from lascopf_assets.lib.ingest.landing import read_landing_file
from lascopf_assets.lib.ingest.validation import validate_readings
from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone
from lascopf_assets.lib.zone.topology import meters_by_junction, read_topology
from lascopf_assets_tests import dev_servers

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "docker" / "README.md"
MARK = "<!-- recipe: production outside compose -->"
TOPOLOGY_PLACEHOLDER = "/path/to/topology"
DAYS = ["2023-01-01", "2023-01-02", "2023-01-03"]
DEADLINE_SECONDS = 300


def recipe_steps() -> tuple[str, list[str], str]:
    """(steps 1-2 as a script, the long-running command lines of step 3, step 4 as a script)."""
    block = README.read_text().split(MARK, 1)[1].split("```bash\n", 1)[1].split("\n```", 1)[0]
    setup, rest = block.split("\n# 3.", 1)
    start, turn_on = rest.split("\n# 4.", 1)
    background = [line.rstrip()[:-1].strip() for line in start.splitlines()[1:] if line.rstrip().endswith("&")]
    return setup, background, "# 4." + turn_on


def _env_file(instance_dsn: str, data_dsn: str, s3: dict, lake_bucket: str, landing_bucket: str) -> str:
    """``.env``: every name of .env.example, filled in for the servers on 127.0.0.1."""
    example = [line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    inst, data = conninfo_to_dict(instance_dsn), conninfo_to_dict(data_dsn)
    values = {
        "LASCOPF_PROFILE": "production", "LASCOPF_FIRST_DAY": "2023-01-01", "LASCOPF_LAST_DAY": "",
        "DAGSTER_PG_HOST": inst.get("host", "127.0.0.1"), "DAGSTER_PG_PORT": str(inst.get("port", 5432)),
        "DAGSTER_PG_USER": inst.get("user", "postgres"), "DAGSTER_PG_PASSWORD": inst.get("password", ""),
        "DAGSTER_PG_DB": inst["dbname"],
        "LASCOPF_PG_HOST": data.get("host", "127.0.0.1"), "LASCOPF_PG_PORT": str(data.get("port", 5432)),
        "LASCOPF_PG_USER": data.get("user", "postgres"), "LASCOPF_PG_PASSWORD": data.get("password", ""),
        "LASCOPF_PG_DB": data["dbname"],
        "LASCOPF_S3_ENDPOINT_URL": s3["endpoint_url"], "LASCOPF_S3_ACCESS_KEY": s3["access_key"],
        "LASCOPF_S3_SECRET_KEY": s3["secret_key"], "LASCOPF_S3_REGION": s3["region"],
        "LASCOPF_S3_BUCKET": lake_bucket, "LASCOPF_S3_PREFIX": "lake",
        "LASCOPF_S3_LANDING_BUCKET": landing_bucket, "LASCOPF_S3_LANDING_PREFIX": "landing",
        "LASCOPF_EXECUTOR": "in_process",  # one machine, small runs: steps inside the run process, no broker
    }
    missing = [name for name in values if name not in example]
    assert not missing, f".env.example lacks {missing}"
    return "".join(f"{name}={shlex.quote(values.get(name, ''))}\n" for name in example if name in values) + "".join(
        f"{name}=\n" for name in example if name not in values)


def _bash(script: str, cwd: Path, env: dict[str, str]) -> dict[str, str]:
    """Run ``script`` with bash -eu; return the environment it ends with."""
    dump = cwd / ".env_after"
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", f"{script}\nenv -0 > {shlex.quote(str(dump))}"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"recipe step failed:\n{script}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    pairs = [item.split("=", 1) for item in dump.read_text().split("\0") if "=" in item]
    dump.unlink()
    return dict(pairs)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _table(dsn: str, name: str) -> pd.DataFrame:
    with psycopg.connect(dsn) as conn:
        return pd.read_sql_query(sql.SQL("SELECT * FROM {}").format(sql.Identifier(name)).as_string(conn), conn)


@pytest.fixture
def scratch_databases(pg_admin_dsn):
    with dev_servers.scratch_database(pg_admin_dsn) as instance_dsn, dev_servers.scratch_database(pg_admin_dsn) as data_dsn:
        yield instance_dsn, data_dsn


@pytest.mark.timeout(DEADLINE_SECONDS + 180)
def test_the_outside_compose_recipe_ingests_with_the_daemon(tmp_path, scratch_databases, s3_endpoint, monkeypatch):
    from lascopf_assets_tests.servers import TEST_ACCESS_KEY, TEST_REGION, TEST_SECRET_KEY

    instance_dsn, data_dsn = scratch_databases
    s3 = {"endpoint_url": s3_endpoint, "access_key": TEST_ACCESS_KEY, "secret_key": TEST_SECRET_KEY, "region": TEST_REGION}
    tag = uuid.uuid4().hex[:8]
    lake_bucket, landing_bucket = f"lake-{tag}", f"landing-{tag}"
    zone = write_demo_zone(tmp_path / "zone", DemoZoneParams(junctions=4, meters_per_junction=(3, 5), days=len(DAYS), seed=5))

    work = tmp_path / "deploy"
    work.mkdir()
    for name in ("docker", ".venv", "workspace.yaml"):
        (work / name).symlink_to(ROOT / name)
    (work / ".env").write_text(_env_file(instance_dsn, data_dsn, s3, lake_bucket, landing_bucket))
    setup, background, turn_on = recipe_steps()
    assert TOPOLOGY_PLACEHOLDER in setup
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("LASCOPF_", "DAGSTER_"))}
    env = _bash(setup.replace(TOPOLOGY_PLACEHOLDER, str(zone.topology_path.parent)), work, base_env)
    assert (work / ".dagster_production" / "dagster.yaml").read_text() == (ROOT / "docker" / "dagster.yaml").read_text()
    assert list((work / "data_production" / "topology").glob("*.csv"))
    # the instance's tables exist before the daemon and the CLI start (made at once by both, they can collide)
    with psycopg.connect(instance_dsn) as conn:
        tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"runs", "event_logs", "instigators", "job_ticks"} <= tables

    # the utility drops its files into day folders of the landing bucket (made by init_buckets.py)
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id=TEST_ACCESS_KEY,
                          aws_secret_access_key=TEST_SECRET_KEY, region_name=TEST_REGION)
    assert {lake_bucket, landing_bucket} <= {b["Name"] for b in client.list_buckets()["Buckets"]}
    for path in zone.paths:
        client.upload_file(str(path), landing_bucket, f"landing/{path.stem.rsplit('_', 1)[1]}/{path.name}")

    # the recipe's sensors at their production intervals (30-60 s) would spend most of this test waiting
    env["LASCOPF_SENSOR_INTERVAL_SECONDS"] = "5"
    assert [shlex.split(line)[0] for line in background] == [".venv/bin/dagster-daemon", ".venv/bin/dagster-webserver"]
    with open(tmp_path / "daemon.log", "w") as log:
        daemon = subprocess.Popen(shlex.split(background[0]), cwd=work, env=env, start_new_session=True,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        _bash(turn_on, work, env)
        for name, value in env.items():
            if name.startswith(("LASCOPF_", "DAGSTER_")):
                monkeypatch.setenv(name, value)
        instance = dg.DagsterInstance.get()
        try:
            aggregates = dg.AssetKey("junction_aggregates")
            deadline = time.monotonic() + DEADLINE_SECONDS
            while time.monotonic() < deadline:
                assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
                if instance.get_materialized_partitions(aggregates) >= set(DAYS):
                    break
                time.sleep(3)
            else:
                runs = [(r.run_id[:8], r.status.value, sorted(r.asset_selection or [])) for r in instance.get_runs()]
                pytest.fail(f"junction_aggregates not materialized for {DAYS} in {DEADLINE_SECONDS} s; runs: {runs}\n"
                            + (tmp_path / "daemon.log").read_text()[-4000:])
            runs = instance.get_runs()
            assert runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs if r.is_finished), [
                (r.run_id, r.status) for r in runs]
        finally:
            instance.dispose()
    finally:
        _stop(daemon)

    # the same rows as the core computes from the same files, in the data database
    meters = meters_by_junction(read_topology(zone.topology_path))
    readings = pd.concat([read_landing_file(p) for p in zone.paths], ignore_index=True)
    expected = aggregate_by_junction(validate_readings(readings, meters).valid).sort_values(["timestamp", "junction"], ignore_index=True)
    got = _table(data_dsn, "junction_aggregates").sort_values(["timestamp", "junction"], ignore_index=True)
    assert len(got) == len(expected) > 0
    assert got["kwh"].to_numpy() == pytest.approx(expected["kwh"].to_numpy())
    assert len(_table(data_dsn, "raw_measurements")) == len(readings)
