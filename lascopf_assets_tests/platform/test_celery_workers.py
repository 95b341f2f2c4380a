"""Scale-out for real: two Celery workers (subprocesses) run the steps of concurrent partition runs.

The test starts two ``dagster-celery worker start`` processes (concurrency 1 each, names
``w1@<host>`` and ``w2@<host>``) on a fresh queue of the RabbitMQ broker on 127.0.0.1:5672, with a
fresh ``DAGSTER_HOME`` they share with the runs (SQLite instance, one machine). It then starts
several ``dagster asset materialize --partition KEY`` processes at once with
``LASCOPF_EXECUTOR=celery``: each is a run whose step goes to the queue. It asserts that every run
succeeded and that both workers executed steps, from three sources that cannot agree by accident:
the name of the Celery worker the step itself saw (``celery.current_task``, empty outside a
worker), dagster-celery's own engine event ("Executing steps ... in celery worker", with the
worker's name), and each worker's log of the tasks it ran.

No broker on 127.0.0.1:5672 (or ``LASCOPF_TEST_CELERY_BROKER``): the tests skip, naming it.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pytest

from lascopf_assets.defs.executor import CELERY_BACKEND_ENV, CELERY_BROKER_ENV, CELERY_QUEUE_ENV, EXECUTOR_ENV

REPO = Path(__file__).resolve().parents[2]
WORKER_CONFIG = REPO / "docker" / "celery_worker.yaml"  # the workers' config the deployment ships
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))
BIN = str(Path(PYTHON).parent)  # dagster-celery runs `celery` from PATH: the venv's bin comes first

# RabbitMQ's and Redis's well-known local defaults; override to point at other servers
BROKER = os.environ.get("LASCOPF_TEST_CELERY_BROKER", "pyamqp://guest:guest@127.0.0.1:5672//")
REDIS = os.environ.get("LASCOPF_TEST_CELERY_REDIS", "redis://127.0.0.1:6379/0")
WORKERS = ("w1", "w2")
PROBE_MODULE = "lascopf_assets_tests.celery_probe"
CELERY_EVENT_KEY = "Celery worker"  # dagster-celery's engine-event metadata label


def _answers(url: str, default_port: int) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=1):
            return host, port, True
    except OSError:
        return host, port, False


def require_broker() -> None:
    host, port, up = _answers(BROKER, 5672)
    if not up:
        pytest.skip(f"no RabbitMQ broker answers on {host}:{port} (start rabbitmq-server or set LASCOPF_TEST_CELERY_BROKER)")
    from kombu import Connection

    try:
        with Connection(BROKER, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - any refusal means the broker is not usable here
        pytest.skip(f"the broker on {host}:{port} refused an AMQP connection: {exc!r} (set LASCOPF_TEST_CELERY_BROKER)")


def require_redis() -> None:
    host, port, up = _answers(REDIS, 6379)
    if not up:
        pytest.skip(f"no Redis answers on {host}:{port} for the Celery result backend "
                    "(start redis-server or set LASCOPF_TEST_CELERY_REDIS)")
    import redis

    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Redis on {host}:{port} did not answer PING: {exc!r}")


def _stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    """End a process started in its own session, and its children (celery's pool), by its group id."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass
class CeleryCluster:
    """Two workers on one fresh queue, and the environment the runs need to reach them."""

    home: Path
    env: dict[str, str]
    hostname: str
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def worker_names(self) -> set[str]:
        return {f"{name}@{self.hostname}" for name in WORKERS}

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")

    def materialize(self, module: str, asset: str, partitions: list[str], timeout: float = 90) -> list[dict]:
        """Run ``dagster asset materialize`` for each partition at once (one process, one run each)."""
        procs = {}
        try:
            for key in partitions:
                out = self.home / f"run_{key}.log"
                procs[key] = (subprocess.Popen(
                    [PYTHON, "-m", "dagster", "asset", "materialize", "-m", module, "--select", asset, "--partition", key],
                    cwd=REPO, env=self.env, stdout=out.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
                ), out)
            deadline = time.monotonic() + timeout
            results = []
            for key, (proc, out) in procs.items():
                try:
                    code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    code = None
                results.append({"partition": key, "returncode": code, "output": out.read_text(errors="replace")})
            return results
        finally:
            for proc, _ in procs.values():
                _stop(proc, timeout=5)


@pytest.fixture
def celery_cluster(tmp_path, monkeypatch, request):
    """Start w1 and w2 (concurrency 1) on a fresh queue; terminate and reap them whatever happens."""
    require_broker()
    backend = getattr(request, "param", "rpc")
    if backend == "redis":
        require_redis()
    backend_url = REDIS if backend == "redis" else "rpc://"
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # stock SQLite storages under home
    queue = f"lascopf-test-{uuid.uuid4().hex[:12]}"  # nobody else's workers listen here
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}  # would override
    env.update({
        "DAGSTER_HOME": str(home),
        EXECUTOR_ENV: "celery",
        CELERY_BROKER_ENV: BROKER,
        CELERY_BACKEND_ENV: backend_url,
        CELERY_QUEUE_ENV: queue,
        "PATH": BIN + os.pathsep + env.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
        "PYTHONUNBUFFERED": "1",
    })
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # create the SQLite storages once, here: processes creating them at the same moment race on the
    # schema (alembic then finds two heads in alembic_version)
    with dg.DagsterInstance.get() as instance:
        instance.get_runs(limit=1)
        instance.get_dynamic_partitions("celery_probes")
        instance.all_instigator_state()
    cluster = CeleryCluster(home=home, env=env, hostname=socket.gethostname())
    workers = {}
    try:
        for name in WORKERS:
            cluster.logs[name] = tmp_path / f"{name}.log"
            # dagster-celery appends "@%h" to -n itself: -n w1 is celery's `-n w1@%h`
            workers[name] = subprocess.Popen(
                [PYTHON, "-m", "dagster_celery.cli", "worker", "start", "-A", "dagster_celery.app", "-y", str(WORKER_CONFIG),
                 "-q", queue, "-n", name, "--loglevel", "INFO", "--", "--concurrency", "1", "--without-gossip", "--without-mingle"],
                cwd=REPO, env=env, stdout=cluster.logs[name].open("w"), stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 45
        waiting = set(WORKERS)
        while waiting and time.monotonic() < deadline:
            for name in sorted(waiting):
                if f"{name}@{cluster.hostname} ready." in cluster.log(name):
                    waiting.discard(name)
                elif workers[name].poll() is not None:
                    pytest.fail(f"celery worker {name} exited with {workers[name].returncode}:\n{cluster.log(name)[-3000:]}")
            time.sleep(0.2)
        assert not waiting, f"workers {sorted(waiting)} not ready in 45 s:\n" + "\n".join(cluster.log(n)[-2000:] for n in waiting)
        yield cluster
    finally:
        for proc in workers.values():
            _stop(proc)


def _step_workers(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Names dagster-celery recorded for the workers that executed the run's steps."""
    names = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = record.dagster_event.engine_event_data if record.dagster_event else None
        if data is not None and CELERY_EVENT_KEY in (data.metadata or {}):
            names.append(data.metadata[CELERY_EVENT_KEY].value)
    return names


def check_runs_on_both_workers(cluster: CeleryCluster, asset: str, results: list[dict]) -> dict[str, dict]:
    """Every run succeeded and ran its step in a worker; both workers took steps. Returns partition -> facts."""
    for r in results:
        assert r["returncode"] == 0, f"run of partition {r['partition']} exited {r['returncode']}:\n{r['output'][-4000:]}"
    partitions = [r["partition"] for r in results]
    facts = {}
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == len(partitions)
        assert {run.tags.get("dagster/partition") for run in runs} == set(partitions)
        for run in runs:
            assert run.status == dg.DagsterRunStatus.SUCCESS, f"run {run.run_id} ({run.tags.get('dagster/partition')}): {run.status}"
            engine = _step_workers(instance, run.run_id)
            assert len(engine) >= 1 and set(engine) <= cluster.worker_names, engine
            facts[run.tags["dagster/partition"]] = {"run_id": run.run_id, "engine_workers": set(engine)}
        for key in partitions:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=1
            ).records
            assert records, f"no materialization of {asset} partition {key}"
            event = records[0].event_log_entry
            facts[key]["materialization"] = event.asset_materialization.metadata if event.asset_materialization else {}
    by_engine = set().union(*(f["engine_workers"] for f in facts.values()))
    assert by_engine == cluster.worker_names, f"steps ran only on {by_engine}, not on both of {cluster.worker_names}"
    # each worker's own log names tasks it ran, and no task failed
    for name in WORKERS:
        log = cluster.log(name)
        assert "Task execute_plan[" in log and " succeeded in " in log, f"{name} ran no step:\n{log[-3000:]}"
        assert " raised unexpected" not in log, log[-3000:]
    return facts


@pytest.mark.timeout(150)
@pytest.mark.parametrize("celery_cluster", ["rpc", "redis"], indirect=True, ids=["rpc-backend", "redis-backend"])
def test_concurrent_partition_runs_use_both_celery_workers(celery_cluster):
    partitions = [f"p{i}" for i in range(1, 5)]
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("celery_probes", partitions)
    started = time.monotonic()
    results = celery_cluster.materialize(PROBE_MODULE, "celery_probe", partitions)
    elapsed = time.monotonic() - started
    facts = check_runs_on_both_workers(celery_cluster, "celery_probe", results)
    # the step saw itself inside a Celery task of the worker dagster-celery names, in a process of its own
    seen = {}
    for key, f in facts.items():
        meta = f["materialization"]
        worker = meta["celery_worker"].value
        assert {worker} == f["engine_workers"], (key, worker, f["engine_workers"])
        assert meta["partition"].value == key
        seen.setdefault(worker, set()).add(meta["pid"].value)
    assert set(seen) == celery_cluster.worker_names
    assert not seen[f"w1@{celery_cluster.hostname}"] & seen[f"w2@{celery_cluster.hostname}"]  # distinct processes
    # four 2 s steps on two single-slot workers: in parallel well under the 8 s of one after another + startup
    assert elapsed < 60, elapsed


# --- the executor switch itself (no broker needed) ---------------------------------------------


def _asset_job_executor(monkeypatch, **env):
    for name in (EXECUTOR_ENV, CELERY_BROKER_ENV, CELERY_BACKEND_ENV, CELERY_QUEUE_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from lascopf_assets.definitions import defs

    return defs().resolve_implicit_global_asset_job_def().executor_def


def test_unset_executor_keeps_dagsters_default_multiprocess(monkeypatch):
    assert _asset_job_executor(monkeypatch) is dg.multi_or_in_process_executor
    assert _asset_job_executor(monkeypatch, LASCOPF_EXECUTOR="multiprocess") is dg.multiprocess_executor
    assert _asset_job_executor(monkeypatch, LASCOPF_EXECUTOR="in_process") is dg.in_process_executor


def test_unknown_executor_is_refused_by_name(monkeypatch):
    with pytest.raises(ValueError, match="LASCOPF_EXECUTOR='threads'.*in_process, multiprocess, celery"):
        _asset_job_executor(monkeypatch, LASCOPF_EXECUTOR="threads")


def test_celery_without_a_broker_is_refused_naming_the_variable(monkeypatch):
    with pytest.raises(ValueError, match=f"{CELERY_BROKER_ENV}.*not set"):
        _asset_job_executor(monkeypatch, LASCOPF_EXECUTOR="celery")


def test_celery_executor_takes_urls_from_the_environment_not_the_definitions(monkeypatch):
    secret_url = "pyamqp://someone:s3cr3t@broker.example:5672//"
    executor = _asset_job_executor(monkeypatch, LASCOPF_EXECUTOR="celery", LASCOPF_CELERY_BROKER=secret_url,
                                   LASCOPF_CELERY_QUEUE="feeders")
    assert executor.name == "lascopf_celery"
    from lascopf_assets.defs.executor import celery_executor_config

    config = celery_executor_config()
    assert config["broker"] == {"env": CELERY_BROKER_ENV}
    assert config["backend"] == "rpc://"  # the default: results back over the broker
    assert config["config_source"] == {"task_default_queue": "feeders"}
    assert "s3cr3t" not in repr(config)
    monkeypatch.setenv(CELERY_BACKEND_ENV, "redis://127.0.0.1:6379/0")
    assert celery_executor_config()["backend"] == {"env": CELERY_BACKEND_ENV}
    # the configured executor resolves the env source into dagster-celery's own schema
    from dagster._config import post_process_config, validate_config
    from dagster_celery import celery_executor

    inner = celery_executor.config_schema.config_type
    assert validate_config(inner, celery_executor_config()).success
    resolved = post_process_config(inner, celery_executor_config()).value
    assert resolved["broker"] == secret_url and resolved["backend"] == "redis://127.0.0.1:6379/0"
