"""Scale-out for real: two Celery workers (subprocesses) run the steps of concurrent partition runs.

The test starts two ``dagster-celery worker start`` processes (concurrency 1 each, names
``w1-<token>@<host>`` and ``w2-<token>@<host>``) on a fresh queue of the RabbitMQ broker on 127.0.0.1:5672, with a
fresh ``DAGSTER_HOME`` they share with the runs (SQLite instance, one machine). It then starts
several ``dagster asset materialize --partition KEY`` processes at once with
``LASCOPF_EXECUTOR=celery``: each is a run whose step goes to the queue. It asserts that every run
succeeded and that both workers executed steps, from sources that cannot agree by accident:
dagster-celery's own engine event of each run ("Executing steps ... in celery worker", with the
worker's name), the step's events coming from a process other than the run's, each worker's log
holding exactly the steps (run id, pid) attributed to it, and for the probe asset the Celery
worker the step itself saw (``celery.current_task``, empty outside a worker) and its time span
overlapping a step of the other worker.

Two code locations: ``lascopf_assets_tests.celery_probe`` (a dynamic-partitioned asset that
sleeps 2 s; rpc and Redis result backends) and the project's own ``lascopf_assets.definitions``
with four feeder partitions of ``phase_assignment`` on a small ingested demo zone.

No broker on 127.0.0.1:5672 (or ``LASCOPF_TEST_CELERY_BROKER``): the tests skip, naming it.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from lascopf_assets.defs.executor import CELERY_BACKEND_ENV, CELERY_BROKER_ENV, CELERY_QUEUE_ENV, EXECUTOR_ENV
from lascopf_assets.defs.profile import PROFILE_ENV
from lascopf_assets.defs.resources import DATA_DIR_ENV, FEEDER_HEADS_ENV, PATH_ENV
from lascopf_assets.lib.zone.demo import DemoZoneParams
from lascopf_assets_tests.celery_cluster import REDIS, CeleryWorkers, broker_problem, redis_problem
from lascopf_assets_tests.local_zone import ingested_demo_zone

WORKERS = ("w1", "w2")
PROBE_MODULE = "lascopf_assets_tests.celery_probe"
CELERY_EVENT_KEY = "Celery worker"  # dagster-celery's engine-event metadata label


@dataclass(frozen=True)
class ClusterSpec:
    """What a test's workers need: the result backend, the code module they load at start, extra env."""

    backend: str = "rpc"
    module: str = PROBE_MODULE
    env: tuple[tuple[str, str], ...] = ()  # names -> values, "{tmp_path}" in a value is filled in
    unset: tuple[str, ...] = ()


@pytest.fixture
def celery_cluster(tmp_path, monkeypatch, request):
    """Start w1 and w2 (concurrency 1) on a fresh queue; terminate and reap them whatever happens."""
    spec: ClusterSpec = getattr(request, "param", ClusterSpec())
    for problem in (broker_problem(), redis_problem() if spec.backend == "redis" else None):
        if problem:
            pytest.skip(problem)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # stock SQLite storages under home
    env = {k: v for k, v in os.environ.items() if k not in spec.unset}
    env.update({name: value.format(tmp_path=tmp_path) for name, value in spec.env})
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # create the SQLite storages once, here: processes creating them at the same moment race on the
    # schema (alembic then finds two heads in alembic_version)
    with dg.DagsterInstance.get() as instance:
        instance.get_runs(limit=1)
        instance.get_dynamic_partitions("celery_probes")
        instance.all_instigator_state()
    backend_url = REDIS if spec.backend == "redis" else "rpc://"
    try:
        with CeleryWorkers(home, env, list(WORKERS), spec.module, backend_url) as cluster:
            yield cluster
    except RuntimeError as exc:  # a worker that exited or never got ready: the harness's own words
        pytest.fail(str(exc))


def _run_pid(instance: dg.DagsterInstance, run_id: str) -> int:
    """The process of the run itself (the `dagster asset materialize` process): where RUN_START came from."""
    (start,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_START)
    return start.dagster_event.pid


def _step_workers(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Names dagster-celery recorded for the workers that executed the run's steps."""
    names = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = record.dagster_event.engine_event_data if record.dagster_event else None
        if data is not None and CELERY_EVENT_KEY in (data.metadata or {}):
            names.append(data.metadata[CELERY_EVENT_KEY].value)
    return names


def check_runs_on_both_workers(cluster: CeleryWorkers, asset: str, results: list[dict]) -> dict[str, dict]:
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
            assert len(engine) == 1 and set(engine) <= cluster.worker_names, engine  # one step, one worker
            facts[run.tags["dagster/partition"]] = {"run_id": run.run_id, "worker": engine[0],
                                                    "run_pid": _run_pid(instance, run.run_id)}
        for key in partitions:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=1
            ).records
            assert records, f"no materialization of {asset} partition {key}"
            event = records[0].event_log_entry
            assert event.run_id == facts[key]["run_id"]
            # the step's events come from a worker's pool process, not from the run's own process
            assert event.dagster_event.pid != facts[key]["run_pid"], (key, event.dagster_event.pid)
            facts[key]["step_pid"] = event.dagster_event.pid
            facts[key]["materialization"] = event.asset_materialization.metadata if event.asset_materialization else {}
    by_engine = {f["worker"] for f in facts.values()}
    assert len(cluster.worker_names) == 2 and len(partitions) > 2
    assert by_engine == cluster.worker_names, f"steps ran only on {by_engine}, not on both of {cluster.worker_names}"
    # each worker's own log: the steps it ran (dagster's log line: run id - pid - step - STEP_SUCCESS), and only those
    logs = {cluster.node(name): cluster.log(name) for name in WORKERS}
    for key, f in facts.items():
        line = f"{f['run_id']} - {f['step_pid']} - {asset} - STEP_SUCCESS"
        holders = {node for node, log in logs.items() if line in log}
        assert holders == {f["worker"]}, (key, f["worker"], holders)
    for node, log in logs.items():
        assert " raised unexpected" not in log, (node, log[-3000:])
    return facts


@pytest.mark.timeout(150)
@pytest.mark.parametrize("celery_cluster", [ClusterSpec("rpc"), ClusterSpec("redis")], indirect=True,
                         ids=["rpc-backend", "redis-backend"])
def test_concurrent_partition_runs_use_both_celery_workers(celery_cluster):
    partitions = [f"p{i}" for i in range(1, 5)]
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("celery_probes", partitions)
    results = celery_cluster.materialize_all(PROBE_MODULE, "celery_probe", partitions)
    facts = check_runs_on_both_workers(celery_cluster, "celery_probe", results)
    # the step saw itself inside a Celery task of the worker dagster-celery names, in its process
    spans = {}
    for key, f in facts.items():
        meta = {k: v.value for k, v in f["materialization"].items()}
        assert meta["celery_worker"] == f["worker"] and meta["pid"] == f["step_pid"], (key, meta, f)
        assert meta["partition"] == key and meta["hostname"] == celery_cluster.hostname
        spans.setdefault(f["worker"], []).append((meta["started"], meta["finished"]))
    # the two single-slot workers ran steps at the same time: the runs were executed in parallel
    w1, w2 = spans[celery_cluster.node("w1")], spans[celery_cluster.node("w2")]
    assert any(a0 < b1 and b0 < a1 for a0, a1 in w1 for b0, b1 in w2), spans


FEEDER_DAYS = ["2023-01-01", "2023-01-02"]
FEEDERS = ["TR1", "TR2", "TR3", "TR4"]
# the workers and runs on the test's own local-profile zone: data under tmp_path/data, nothing from the shell
FEEDER_ZONE = ClusterSpec(
    backend="rpc",
    module="lascopf_assets.definitions",  # what the compose worker loads (-i)
    env=((DATA_DIR_ENV, "{tmp_path}/data"), (PROFILE_ENV, "local")),
    unset=(*PATH_ENV.values(), FEEDER_HEADS_ENV),
)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("celery_cluster", [FEEDER_ZONE], indirect=True, ids=["feeders"])
def test_feeder_partitions_of_phase_assignment_run_on_both_celery_workers(celery_cluster, tmp_path):
    """The real thing: four feeders of a demo zone, one phase_assignment run each, steps on the two workers."""
    params = DemoZoneParams(feeders=len(FEEDERS), feeder_junctions=(6, 5, 6, 5), meters_per_junction=(3, 4),
                            days=len(FEEDER_DAYS))
    with ingested_demo_zone(tmp_path / "data", params, FEEDER_DAYS) as zone:
        feeders = sorted(zone.instance.get_dynamic_partitions("feeders"))  # what grid_topology synced
    assert feeders == FEEDERS
    with dg.DagsterInstance.get() as instance:  # the workers' and runs' instance knows the same feeders
        instance.add_dynamic_partitions("feeders", feeders)
    config = {"ops": {"phase_assignment": {"config": {"max_changes": 2, "curve_max_changes": 2, "time_limit_seconds": 60}}}}
    results = celery_cluster.materialize_all("lascopf_assets.definitions", "phase_assignment", feeders,
                                             extra_args=("--config-json", json.dumps(config)), timeout=150)
    facts = check_runs_on_both_workers(celery_cluster, "phase_assignment", results)
    for feeder, f in facts.items():
        meta = {k: v.value for k, v in f["materialization"].items()}
        assert meta["feeder"] == feeder and meta["status"] == "optimal", (feeder, meta.get("status"), meta.get("reason"))
        assert meta["junctions"] == dict(zip(FEEDERS, params.feeder_junctions))[feeder]
        assert meta["hours"] == 24 * len(FEEDER_DAYS)
        assert Path(meta["report_path"]).is_file()  # written by the worker into the shared data dir


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
