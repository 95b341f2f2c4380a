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
