"""docker/ checked without Docker: compose, Dockerfiles, workspace, env names, .env.example."""

import re
import shlex
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from lascopf_assets.defs.profile import PROFILE_ENV
from lascopf_assets.defs.storage.from_env import PG_ENV, S3_ENV, S3_LANDING_ENV
from lascopf_assets_tests.lock_files import pins

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DAGSTER_SERVICES = ("user_code", "webserver", "daemon")


def instance_env_names() -> set[str]:
    config = yaml.safe_load((DOCKER / "dagster.yaml").read_text())
    found = set()

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"env"}:
                found.add(node["env"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return found


def dockerfile(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (DOCKER / name).read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instr, _, rest = line.partition(" ")
            out.append((instr.upper(), rest.strip()))
    return out


def command_of(service: dict) -> list[str]:
    cmd = service.get("entrypoint") or service.get("command")
    return cmd if isinstance(cmd, list) else shlex.split(cmd)


def test_services_in_the_deploy_docker_shape():
    assert set(SERVICES) == {"dagster_postgres", "timescaledb", "s3", "s3_init", *DAGSTER_SERVICES}
    assert "timescale/timescaledb" in SERVICES["timescaledb"]["image"]
    assert "minio" not in yaml.safe_dump(COMPOSE).lower()  # archived upstream: not used
    for name in DAGSTER_SERVICES:
        assert SERVICES[name]["build"]["context"] == ".."
        assert (REPO / SERVICES[name]["build"]["dockerfile"]).is_file()


def test_entry_points_and_workspace_agree():
    code = command_of(SERVICES["user_code"])
    assert code[:3] == ["dagster", "code-server", "start"]
    assert code[code.index("-m") + 1] == "lascopf_assets.definitions"
    port = int(code[code.index("-p") + 1])
    workspace = yaml.safe_load((DOCKER / "workspace.yaml").read_text())
    grpc = workspace["load_from"][0]["grpc_server"]
    assert grpc["host"] == "user_code" and grpc["port"] == port
    # the image's own CMD is the same command (so `docker run lascopf_user_code` serves too)
    cmd = [args for instr, args in dockerfile("Dockerfile_user_code") if instr == "CMD"][-1]
    assert yaml.safe_load(cmd) == code
    assert ("EXPOSE", str(port)) in dockerfile("Dockerfile_user_code")
    web = command_of(SERVICES["webserver"])
    assert web[0] == "dagster-webserver" and web[web.index("-w") + 1] == "workspace.yaml"
    assert command_of(SERVICES["daemon"])[:2] == ["dagster-daemon", "run"]


def test_the_module_in_the_entry_point_imports_and_loads():
    """The code server runs `-m lascopf_assets.definitions`: that module must import and build its definitions."""
    import importlib

    import dagster as dg

    code = yaml.safe_load([args for instr, args in dockerfile("Dockerfile_user_code") if instr == "CMD"][-1])
    module = importlib.import_module(code[code.index("-m") + 1])
    dg.Definitions.validate_loadable(module.defs())


def test_published_ports_are_loopback_only():
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert "ports" not in SERVICES["dagster_postgres"]


def test_every_env_name_the_code_reads_is_set_where_it_runs():
    instance = instance_env_names()
    assert instance == {"DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"}
    data = set(PG_ENV.values()) | set(S3_ENV.values()) | set(S3_LANDING_ENV.values()) | {PROFILE_ENV}
    for name in DAGSTER_SERVICES:
        env = SERVICES[name]["environment"]
        assert instance <= set(env), f"{name} lacks instance settings {instance - set(env)}"
    user_env = SERVICES["user_code"]["environment"]
    assert data <= set(user_env), f"user_code lacks {data - set(user_env)}"
    assert user_env[PROFILE_ENV] == "production"
    # the data side points at the data services, the instance at its own database
    assert user_env["LASCOPF_PG_HOST"] == "timescaledb" and user_env["DAGSTER_PG_HOST"] == "dagster_postgres"
    assert user_env["LASCOPF_S3_ENDPOINT_URL"].startswith("http://s3:")


def _compose_variables() -> set[str]:
    text = (DOCKER / "docker-compose.yml").read_text()
    text = re.sub(r"\$\$", "", text)  # $$VAR is the container's own expansion
    return set(re.findall(r"\$\{([A-Z0-9_]+)", text))


def test_env_example_documents_every_variable_and_holds_no_secret():
    lines = [line for line in (REPO / ".env.example").read_text().splitlines() if line.strip() and not line.startswith("#")]
    example = dict(line.split("=", 1) for line in lines)
    assert _compose_variables() <= set(example), _compose_variables() - set(example)
    data = set(PG_ENV.values()) | set(S3_ENV.values()) | set(S3_LANDING_ENV.values()) | instance_env_names()
    assert data <= set(example)
    for key, value in example.items():
        if re.search(r"PASSWORD|SECRET|ACCESS_KEY", key):
            assert value == "", f"{key} must be left empty in the template"
    # compose refuses to start without the secrets instead of defaulting them
    text = (DOCKER / "docker-compose.yml").read_text()
    for key in ("DAGSTER_PG_PASSWORD", "LASCOPF_PG_PASSWORD", "LASCOPF_S3_SECRET_KEY", "LASCOPF_S3_ACCESS_KEY"):
        assert re.search(r"\$\{" + key + r":\?", text), key
        assert not re.search(r"\$\{" + key + r":-", text), key


@pytest.mark.parametrize("name", ["Dockerfile_dagster", "Dockerfile_user_code"])
def test_dockerfiles_copy_existing_files_and_ship_the_instance_yaml(name):
    steps = dockerfile(name)
    assert steps[0][0] == "FROM" and steps[0][1].startswith("python:3.11")
    copies = [args.split() for instr, args in steps if instr == "COPY"]
    for args in copies:
        for src in args[:-1]:
            assert (REPO / src).exists(), f"{name}: COPY source {src} is missing"
    assert any("docker/dagster.yaml" in args for args in copies)
    assert ("ENV", "DAGSTER_HOME=/opt/dagster/dagster_home") in steps


def test_dagster_image_installs_the_tested_versions_from_the_lock():
    steps = dockerfile("Dockerfile_dagster")
    assert ("COPY", "requirements/services.txt /tmp/services.txt") in steps
    run = " ".join(args for instr, args in steps if instr == "RUN")
    assert "--require-hashes --no-deps -r /tmp/services.txt" in run and "pip check" in run
    locked = pins("services.txt")
    for dist in ("dagster", "dagster-graphql", "dagster-webserver", "dagster-postgres", "dagster-aws"):
        assert locked[dist] == version(dist), f"services.txt pins {dist}=={locked[dist]}, tests ran {version(dist)}"


def test_user_code_image_installs_the_project_with_its_entry_point():
    steps = dockerfile("Dockerfile_user_code")
    assert ("RUN", "pip install --no-cache-dir --require-hashes --no-deps -r requirements/main.txt") in steps
    assert ("RUN", "pip install --no-cache-dir --no-deps --no-build-isolation . && pip check") in steps
    installs = [i for i, (instr, args) in enumerate(steps) if instr == "RUN" and "pip install" in args]
    assert installs[0] < installs[1]  # the lock first, so the project's install resolves nothing
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'readme = "README.md"' not in pyproject or any("README.md" in a for i, a in steps if i == "COPY")


def test_init_buckets_script_creates_both_buckets_idempotently(s3_bucket, monkeypatch):
    import importlib.util
    import uuid

    spec = importlib.util.spec_from_file_location("init_buckets", DOCKER / "init_buckets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lake, landing = f"lake-{uuid.uuid4().hex[:8]}", f"landing-{uuid.uuid4().hex[:8]}"
    env = {"LASCOPF_S3_ENDPOINT_URL": s3_bucket["endpoint_url"], "LASCOPF_S3_ACCESS_KEY": s3_bucket["access_key"],
           "LASCOPF_S3_SECRET_KEY": s3_bucket["secret_key"], "LASCOPF_S3_REGION": s3_bucket["region"],
           "LASCOPF_S3_BUCKET": lake, "LASCOPF_S3_LANDING_BUCKET": landing}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert module.main() == 0
    assert module.main() == 0  # second run: buckets exist, nothing to do
    names = {b["Name"] for b in s3_bucket["client"].list_buckets()["Buckets"]}
    assert {lake, landing} <= names
