"""docker/ checked without Docker: compose, Dockerfiles, workspace, env names, .env.example, the Helm values."""

import re
import shlex
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from lascopf_assets.defs.executor import CELERY_BACKEND_ENV, CELERY_BROKER_ENV, CELERY_QUEUE_ENV, EXECUTOR_ENV
from lascopf_assets.defs.profile import PROFILE_ENV
from lascopf_assets.defs.storage.from_env import PG_ENV, S3_ENV, S3_LANDING_ENV
from lascopf_assets_tests.lock_files import pins

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DAGSTER_SERVICES = ("dagster_init", "user_code", "webserver", "daemon", "celery_worker")
CELERY_ENV = {EXECUTOR_ENV, CELERY_BROKER_ENV, CELERY_BACKEND_ENV, CELERY_QUEUE_ENV}
K8S = DOCKER / "k8s"
STREAM_SERVICES = ("nats", "stream_consumer")


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
    assert set(SERVICES) == {"dagster_postgres", "timescaledb", "s3", "s3_init", "rabbitmq", "grafana", "prometheus", "api",
                             *DAGSTER_SERVICES, *STREAM_SERVICES}
    assert "timescale/timescaledb" in SERVICES["timescaledb"]["image"]
    assert "minio" not in yaml.safe_dump(COMPOSE).lower()  # archived upstream: not used
    for name in DAGSTER_SERVICES:
        assert SERVICES[name]["build"]["context"] == ".."
        assert (REPO / SERVICES[name]["build"]["dockerfile"]).is_file()


def test_the_instance_tables_are_made_once_before_the_services_that_use_them():
    """Every service that opens the Dagster instance starts after dagster_init has migrated it.

    Each would create the tables at first use; two at once can fail with "type ... already exists"
    (PostgreSQL's DuplicateObject, which Dagster's creation retry does not cover)."""
    assert command_of(SERVICES["dagster_init"]) == ["dagster", "instance", "migrate"]
    assert SERVICES["dagster_init"]["depends_on"]["dagster_postgres"]["condition"] == "service_healthy"
    users = [name for name, service in SERVICES.items() if "DAGSTER_PG_HOST" in service.get("environment", {})]
    assert set(DAGSTER_SERVICES) | {"api"} == set(users)  # the API reads the instance for its metrics
    for name in set(users) - {"dagster_init"}:
        assert SERVICES[name]["depends_on"].get("dagster_init") == {"condition": "service_completed_successfully"}, name


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


def example_env() -> dict[str, str]:
    lines = [line for line in (REPO / ".env.example").read_text().splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


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
    example = example_env()
    assert _compose_variables() <= set(example), _compose_variables() - set(example)
    data = set(PG_ENV.values()) | set(S3_ENV.values()) | set(S3_LANDING_ENV.values()) | instance_env_names()
    assert data <= set(example)
    for key, value in example.items():
        if re.search(r"PASSWORD|SECRET|ACCESS_KEY|BROKER", key):  # a broker URL carries its password
            assert value == "", f"{key} must be left empty in the template"
    # compose refuses to start without the secrets instead of defaulting them
    text = (DOCKER / "docker-compose.yml").read_text()
    for key in ("DAGSTER_PG_PASSWORD", "LASCOPF_PG_PASSWORD", "LASCOPF_S3_SECRET_KEY", "LASCOPF_S3_ACCESS_KEY",
                "LASCOPF_RABBITMQ_PASSWORD"):
        assert re.search(r"\$\{" + key + r":\?", text), key
        assert not re.search(r"\$\{" + key + r":-", text), key


def _image_path(dockerfile_name: str, repo_path: str) -> str:
    """Where a repository file lands in an image: the COPY destination, relative ones under WORKDIR."""
    steps = dockerfile(dockerfile_name)
    workdir = "/"
    for instr, args in steps:
        if instr == "WORKDIR":
            workdir = args
        elif instr == "COPY" and args.split()[:-1] == [repo_path]:
            dest = args.split()[-1]
            return dest if dest.startswith("/") else f"{workdir.rstrip('/')}/{dest.removeprefix('./')}"
    raise AssertionError(f"{dockerfile_name} does not COPY {repo_path}")


def test_celery_worker_is_the_user_code_image_with_the_runs_environment():
    worker, code = SERVICES["celery_worker"], SERVICES["user_code"]
    assert worker["build"] == code["build"] and worker["image"] == code["image"]  # same code, same locks
    cmd = command_of(worker)
    assert cmd[:3] == ["dagster-celery", "worker", "start"]
    assert cmd[cmd.index("-A") + 1] == "dagster_celery.app"
    # the module it loads at start is the code location's (steps import it through the run's pointer)
    user_cmd = command_of(code)
    assert cmd[cmd.index("-i") + 1] == user_cmd[user_cmd.index("-m") + 1] == "lascopf_assets.definitions"
    # its config file is in the image, where the command looks for it
    assert cmd[cmd.index("-y") + 1] == _image_path(code["build"]["dockerfile"].split("/")[-1], "docker/celery_worker.yaml")
    # it listens on the queue the runs send to
    assert cmd[cmd.index("-q") + 1] == code["environment"][CELERY_QUEUE_ENV] == worker["environment"][CELERY_QUEUE_ENV]
    # everything the runs see, the worker sees the same way (instance, data side, executor, broker)
    shared = {k: v for k, v in code["environment"].items() if k != "DAGSTER_CURRENT_IMAGE"}
    assert set(shared) >= CELERY_ENV
    assert {k: worker["environment"].get(k) for k in shared} == shared
    assert worker["volumes"] == code["volumes"]  # exports and state in the same place
    for name in ("user_code", "celery_worker"):
        assert SERVICES[name]["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}


def test_broker_url_is_the_same_variable_on_the_run_and_worker_side_and_names_the_broker_service():
    broker = SERVICES["rabbitmq"]
    assert "rabbitmq" in broker["image"] and "ports" not in broker  # reachable on the compose network only
    urls = {SERVICES[name]["environment"][CELERY_BROKER_ENV] for name in ("user_code", "celery_worker")}
    assert len(urls) == 1
    url = urls.pop()
    assert re.fullmatch(r"pyamqp://\$\{LASCOPF_RABBITMQ_USER:\?[^}]*\}:\$\{LASCOPF_RABBITMQ_PASSWORD:\?[^}]*\}@rabbitmq:5672//", url), url
    # the same user and password the broker is created with
    assert broker["environment"]["RABBITMQ_DEFAULT_USER"].startswith("${LASCOPF_RABBITMQ_USER:?")
    assert broker["environment"]["RABBITMQ_DEFAULT_PASS"].startswith("${LASCOPF_RABBITMQ_PASSWORD:?")
    # runs default to the celery executor in compose (their steps go to the workers)
    assert SERVICES["user_code"]["environment"][EXECUTOR_ENV] == "${LASCOPF_EXECUTOR:-celery}"
    assert SERVICES["user_code"]["environment"][CELERY_BACKEND_ENV] == "${LASCOPF_CELERY_BACKEND:-rpc://}"


def test_worker_config_file_reads_the_variables_the_executor_reads(monkeypatch):
    """dagster-celery validates -y the way the worker does: broker and backend from the executor's env names."""
    from dagster_celery.cli import get_validated_config

    from lascopf_assets.defs.executor import celery_executor_config

    monkeypatch.setenv(CELERY_BROKER_ENV, "pyamqp://u:p@broker:5672//")
    monkeypatch.setenv(CELERY_BACKEND_ENV, "redis://cache:6379/0")
    worker = get_validated_config(str(DOCKER / "celery_worker.yaml"))
    assert worker["broker"] == "pyamqp://u:p@broker:5672//" and worker["backend"] == "redis://cache:6379/0"
    run = celery_executor_config()
    assert run["broker"] == {"env": CELERY_BROKER_ENV} and run["backend"] == {"env": CELERY_BACKEND_ENV}
    raw = yaml.safe_load((DOCKER / "celery_worker.yaml").read_text())["execution"]["config"]
    assert raw == {"broker": run["broker"], "backend": run["backend"]}


# --- Kubernetes: docker/k8s/values.yaml for Dagster's Helm chart ---------------------------------

K8S_VALUES = yaml.safe_load((K8S / "values.yaml").read_text())
K8S_CONFIGMAP = yaml.safe_load((K8S / "configmap.yaml").read_text())
# what goes into the Secret lascopf-secrets (docker/README.md's kubectl line), never into the ConfigMap
K8S_SECRET_KEYS = {"LASCOPF_PG_PASSWORD", "LASCOPF_S3_ACCESS_KEY", "LASCOPF_S3_SECRET_KEY"}


def test_k8s_code_location_is_the_user_code_image_serving_the_compose_module_and_port():
    (deployment,) = K8S_VALUES["dagster-user-deployments"]["deployments"]
    assert deployment["image"]["repository"].split("/")[-1] == SERVICES["user_code"]["image"]
    args = deployment["codeServerArgs"]
    code = command_of(SERVICES["user_code"])
    assert args[args.index("-m") + 1] == code[code.index("-m") + 1] == "lascopf_assets.definitions"
    workspace = yaml.safe_load((DOCKER / "workspace.yaml").read_text())["load_from"][0]["grpc_server"]
    assert deployment["port"] == int(code[code.index("-p") + 1]) == workspace["port"]
    assert ("EXPOSE", str(deployment["port"])) in dockerfile("Dockerfile_user_code")
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}


def test_k8s_runs_are_k8s_jobs_with_the_code_locations_env_and_the_locked_dagster():
    launcher = K8S_VALUES["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    (deployment,) = K8S_VALUES["dagster-user-deployments"]["deployments"]
    k8s = launcher["config"]["k8sRunLauncher"]
    assert k8s["envConfigMaps"] == deployment["envConfigMaps"] == [{"name": K8S_CONFIGMAP["metadata"]["name"]}]
    assert k8s["envSecrets"] == deployment["envSecrets"]
    # run pods load the chart's instance (K8sRunLauncher) from the user-code image: dagster-k8s is in its lock
    assert pins("main.txt")["dagster-k8s"] == version("dagster-k8s")
    from dagster_k8s import K8sRunLauncher  # noqa: F401
    # Dagster's own webserver/daemon images at the version the tests ran
    for part in ("dagsterWebserver", "dagsterDaemon"):
        assert K8S_VALUES[part]["image"]["tag"] == version("dagster"), part


def test_k8s_instance_database_comes_from_a_secret_with_the_psycopg2_scheme():
    pg = K8S_VALUES["postgresql"]
    instance = yaml.safe_load((DOCKER / "dagster.yaml").read_text())["storage"]["postgres"]["postgres_db"]
    assert pg["enabled"] is False and pg["postgresqlScheme"] == instance["scheme"] == "postgresql+psycopg2"
    assert pg["postgresqlPassword"] == "" and K8S_VALUES["generatePostgresqlPasswordSecret"] is False
    assert K8S_VALUES["global"]["postgresqlSecretName"]
    assert pg["service"]["port"] == 5432


def test_k8s_configmap_names_what_the_code_reads_and_no_secret():
    assert K8S_CONFIGMAP["kind"] == "ConfigMap"
    data = K8S_CONFIGMAP["data"]
    known = set(example_env()) | set(SERVICES["user_code"]["environment"])
    assert set(data) <= known, set(data) - known  # the names the compose deployment and .env.example use
    assert not [k for k in data if re.search(r"PASSWORD|SECRET|ACCESS_KEY|BROKER", k)]
    reads = set(PG_ENV.values()) | set(S3_ENV.values()) | set(S3_LANDING_ENV.values()) | {PROFILE_ENV}
    assert reads <= set(data) | K8S_SECRET_KEYS, reads - set(data) - K8S_SECRET_KEYS
    assert known >= K8S_SECRET_KEYS
    from lascopf_assets.defs.executor import EXECUTORS

    assert data[PROFILE_ENV] == "production" and data[EXECUTOR_ENV] in EXECUTORS
    # the README's kubectl line creates the Secret the values name, with every secret key
    readme = (DOCKER / "README.md").read_text()
    secret_name = K8S_VALUES["dagster-user-deployments"]["deployments"][0]["envSecrets"][0]["name"]
    line = next(ln for ln in readme.splitlines() if f"create secret generic {secret_name}" in ln)
    assert all(f"--from-literal={key}=" in line for key in K8S_SECRET_KEYS), line
    assert f"create secret generic {K8S_VALUES['global']['postgresqlSecretName']}" in readme


def test_k8s_values_hold_no_secret_value():
    def walk(node, path=""):
        if isinstance(node, dict):
            for key, value in node.items():
                if re.search(r"password|secret|token", str(key), re.IGNORECASE) and isinstance(value, str) and "SecretName" not in key:
                    assert value == "", f"{path}.{key} holds a value"
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    walk(K8S_VALUES)


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


def substituted(text: str, env: dict[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?message}`` with ``env`` (.env.example), else the default."""
    def one(m):
        name, op, rest = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        assert op != ":?", f"{name} is required and empty in .env.example"
        return rest if op == ":-" else ""
    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}", one, text)


def test_stream_consumer_service_runs_the_real_cli_into_the_landing_zone_the_sensor_watches():
    from urllib.parse import urlparse

    from lascopf_assets.cli import build_parser, stream_consume
    from lascopf_assets.lib.stream.nats_consumer import NatsSettings

    service, example = SERVICES["stream_consumer"], example_env()
    cmd = [substituted(arg, example) for arg in command_of(service)]
    pyproject = (REPO / "pyproject.toml").read_text()
    assert cmd[0] == "lascopf" and 'lascopf = "lascopf_assets.cli:main"' in pyproject  # the image's console script
    args = build_parser().parse_args(cmd[1:])  # every flag is one the real CLI has, with a value it accepts
    assert args.func is stream_consume.run and args.s3_landing and args.landing is None and args.create_stream
    NatsSettings(servers=args.nats, stream=args.stream, subject=args.subject, durable=args.durable)  # names it accepts
    assert urlparse(args.nats).hostname == "nats" and urlparse(args.nats).port == 4222
    assert "-js" in command_of(SERVICES["nats"])  # JetStream on
    # the S3 landing settings the consumer reads are set, with the values the runs and the sensor read
    env, user_env = service["environment"], SERVICES["user_code"]["environment"]
    assert set(stream_consume.s3_landing_env().values()) == set(S3_LANDING_ENV.values()) <= set(env)
    assert {k: env[k] for k in S3_LANDING_ENV.values()} == {k: user_env[k] for k in S3_LANDING_ENV.values()}
    assert set(re.findall(r"\$\{([A-Z0-9_]+)", " ".join(command_of(service)))) <= set(example)
    assert service["image"] == SERVICES["user_code"]["image"] and service["depends_on"]["s3_init"]["condition"] == (
        "service_completed_successfully")
    # the lock file lives on a volume, not in the image
    assert any(args.lock_dir.startswith(v.split(":", 1)[1]) for v in service["volumes"])
    # opt-in: a plain `docker compose up` does not start it, and `make demo` runs no compose at all
    assert service["profiles"] == SERVICES["nats"]["profiles"] == ["stream"]
    makefile = (REPO / "Makefile").read_text()
    demo = re.search(r"^demo:.*?(?=^\S)", makefile, re.S | re.M).group(0)
    assert "compose" not in demo and "stream" not in demo
