"""docker/prometheus.yml and the compose `api` service, parsed: the scrape target is the API's service and port."""

from pathlib import Path

import yaml

from lascopf_assets.api.settings import DAGSTER_HOST_ENV, DAGSTER_PORT_ENV, HOST_ENV, PORT_ENV, TOKEN_ENV

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def test_prometheus_scrapes_the_api_service_metrics_path():
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    api = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())["services"]["api"]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "lascopf_api"]
    assert job["metrics_path"] == "/metrics" and job["scheme"] == "http"
    (target,) = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host == "api" and port == api["environment"][PORT_ENV]
    assert float(job["scrape_timeout"].rstrip("s")) <= float(job["scrape_interval"].rstrip("s"))


def test_compose_api_service_runs_the_api_with_its_token_from_outside():
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    api = compose["services"]["api"]
    assert api["entrypoint"] == ["python", "-m", "lascopf_assets.api"]
    env = api["environment"]
    assert env[TOKEN_ENV] is None  # passed through from the shell / .env, never a value here
    assert env[HOST_ENV] == "0.0.0.0" and all(str(p).startswith("127.0.0.1:") for p in api["ports"])
    assert env[DAGSTER_HOST_ENV] in compose["services"] and env[DAGSTER_PORT_ENV] == "3000"
    assert env["LASCOPF_PROFILE"] == "production"


def mounted_at(service: dict, path: str) -> list[str]:
    return [v.split(":")[0] for v in service.get("volumes", []) if v.split(":")[1] == path]


def test_the_api_service_reads_the_storage_the_assets_write():
    """The production store's variables (api/store.py) are the IO managers' (defs/storage/from_env.py), and the
    compose api service gets each with the value the services that run the assets get; the same Dagster instance
    (metrics) and the same data folder (the landing cache the landing-age metric reads)."""
    from lascopf_assets.api.store import PG_ENV, PRODUCTION_ENV, REQUIRED_ENV, ProductionStore
    from lascopf_assets.defs.storage import from_env
    from lascopf_assets.defs.storage.table_io_manager import PostgresTableIOManager

    assert PG_ENV == from_env.PG_ENV
    assert set(PRODUCTION_ENV) == {*from_env.PG_ENV.values(), *from_env.S3_ENV.values()}
    assert set(REQUIRED_ENV) <= set(PRODUCTION_ENV)
    services = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())["services"]
    api = services["api"]
    data = api["environment"]["LASCOPF_DATA_DIR"]
    for writer in ("user_code", "celery_worker"):
        env = services[writer]["environment"]
        for name in (*PRODUCTION_ENV, "LASCOPF_PROFILE", "LASCOPF_DATA_DIR", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT",
                     "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
            assert api["environment"].get(name) == env.get(name), (writer, name)
        assert mounted_at(services["api"], data) == mounted_at(services[writer], data) != [], writer
    # the table store the API opens is in the schema the table IO manager writes
    store = ProductionStore.from_env({name: "x" for name in PRODUCTION_ENV} | {"LASCOPF_S3_ENDPOINT_URL": ""})
    assert store.tables.schema == PostgresTableIOManager(host="x", user="x", dbname="x").db_schema
    # it reads the results database and the S3 lake: it starts after both exist (the buckets made by s3_init)
    assert api["depends_on"]["timescaledb"] == {"condition": "service_healthy"}
    assert api["depends_on"]["s3_init"] == {"condition": "service_completed_successfully"}
