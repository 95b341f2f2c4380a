"""A run whose run worker is SIGKILLed mid-step (issue 15, defect 8), on the production profile.

Real servers: the PostgreSQL on 127.0.0.1 (a scratch database for the Dagster instance and one for
the data), moto's S3 server; the instance is ``docker/dagster.yaml``; steps run in processes of the
multiprocess executor. A 20-day ``raw_measurements`` range sends its run worker more events than a
pipe holds (about 7 kB of materialization per day), which is what made Dagster's step child hang at
exit, with the multiprocessing resource tracker waiting on it, once the run worker was gone.

* Under the CLI (``dagster asset materialize``, the run worker is the CLI process): the step child
  and the resource tracker end by themselves (``guard_step_process``); nothing marks the run.
* Under a code server and ``dagster-daemon run`` (the docker shape): the same, and the code server's
  orphan check marks the run FAILURE.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from psycopg.conninfo import conninfo_to_dict

from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone
from lascopf_assets_tests import dev_servers
from lascopf_assets_tests.servers import TEST_ACCESS_KEY, TEST_REGION, TEST_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FIRST, LAST = "2023-01-01", "2023-01-20"
DAYS = 20
# the step child gets 20 s (RUN_WORKER_GONE_GRACE_S) before it is ended hard; it ends within seconds
GONE_WITHIN_S = 30.0


@pytest.fixture(scope="module")
def production(tmp_path_factory, pg_admin_dsn, s3_endpoint):
    """The environment of the production profile (.env.example's names) for the subprocesses."""
    import boto3

    tmp = tmp_path_factory.mktemp("killed_run")
    zone = write_demo_zone(tmp / "zone", DemoZoneParams(junctions=4, meters_per_junction=(3, 5), days=DAYS, seed=8))
    tag = uuid.uuid4().hex[:8]
    lake, landing = f"lake-{tag}", f"landing-{tag}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id=TEST_ACCESS_KEY,
                          aws_secret_access_key=TEST_SECRET_KEY, region_name=TEST_REGION)
    for bucket in (lake, landing):
        client.create_bucket(Bucket=bucket)
    for path in zone.paths:
        client.upload_file(str(path), landing, f"landing/{path.stem.rsplit('_', 1)[1]}/{path.name}")
    with dev_servers.scratch_database(pg_admin_dsn) as data_dsn:
        data = conninfo_to_dict(data_dsn)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LASCOPF_", "DAGSTER_"))}
        env.update({
            "LASCOPF_PROFILE": "production", "LASCOPF_FIRST_DAY": FIRST, "LASCOPF_LAST_DAY": LAST,
            "LASCOPF_PG_HOST": data.get("host", "127.0.0.1"), "LASCOPF_PG_PORT": str(data.get("port", 5432)),
            "LASCOPF_PG_USER": data.get("user", "postgres"), "LASCOPF_PG_PASSWORD": data.get("password", ""),
            "LASCOPF_PG_DB": data["dbname"],
            "LASCOPF_S3_ENDPOINT_URL": s3_endpoint, "LASCOPF_S3_ACCESS_KEY": TEST_ACCESS_KEY,
            "LASCOPF_S3_SECRET_KEY": TEST_SECRET_KEY, "LASCOPF_S3_REGION": TEST_REGION,
            "LASCOPF_S3_BUCKET": lake, "LASCOPF_S3_PREFIX": "lake",
            "LASCOPF_S3_LANDING_BUCKET": landing, "LASCOPF_S3_LANDING_PREFIX": "landing",
            "LASCOPF_DATA_DIR": str(tmp / "data"), "LASCOPF_TOPOLOGY_DIR": str(zone.topology_path.parent),
            "LASCOPF_EXECUTOR": "multiprocess",
        })
        yield env


@pytest.fixture
def instance_env(production, pg_admin_dsn, tmp_path):
    """``production`` plus a fresh Dagster instance: docker/dagster.yaml on a scratch database."""
    with dev_servers.scratch_database(pg_admin_dsn) as instance_dsn:
        inst = conninfo_to_dict(instance_dsn)
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(ROOT / "docker" / "dagster.yaml", home / "dagster.yaml")
        env = {**production, "DAGSTER_HOME": str(home),
               "DAGSTER_PG_HOST": inst.get("host", "127.0.0.1"), "DAGSTER_PG_PORT": str(inst.get("port", 5432)),
               "DAGSTER_PG_USER": inst.get("user", "postgres"), "DAGSTER_PG_PASSWORD": inst.get("password", ""),
               "DAGSTER_PG_DB": inst["dbname"]}
        # the tables made once, as the deployment's dagster_init does: processes started together
        # would each make them, and two at once can collide
        subprocess.run([str(BIN / "dagster"), "instance", "migrate"], cwd=ROOT, env=env, check=True,
                       capture_output=True, timeout=120)
        yield env


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "w") as out:  # own session: the finally can end the whole group, orphans included
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _end_group(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, to the process group started by ``_start`` (whatever is still in it)."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if not _alive(_group(process.pid)):
            break
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _group(pgid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid:
                found.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            continue
    return alive


def _describe(procs: list[psutil.Process]) -> list[str]:
    out = []
    for proc in procs:
        try:
            out.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
        except psutil.Error:
            continue
    return out


def _is_spawn_child(proc: psutil.Process) -> bool:
    try:
        return "multiprocessing.spawn" in " ".join(proc.cmdline())
    except psutil.Error:
        return False


def _step_child(root: psutil.Process, deadline: float) -> psutil.Process:
    """The step process of the run under ``root``: a spawned child of a process that is itself the run worker."""
    while time.monotonic() < deadline:
        for proc in root.children(recursive=True):
            if not _is_spawn_child(proc):
                continue
            try:
                parent = proc.parent()
            except psutil.Error:
                continue
            if parent is not None and (parent.pid == root.pid and _cli_root(root) or _is_spawn_child(parent)):
                return proc
        time.sleep(0.2)
    raise AssertionError(f"no step process under {root.pid}: {_describe(root.children(recursive=True))}")


def _cli_root(root: psutil.Process) -> bool:
    try:
        return "asset" in root.cmdline() and "materialize" in root.cmdline()
    except psutil.Error:
        return False


def _wait_for_step_start(read_log, deadline: float, what: str) -> None:
    while time.monotonic() < deadline:
        if "STEP_START" in read_log():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: the step did not start:\n{read_log()[-3000:]}")


def _kill_worker_and_wait(worker: psutil.Process, step: psutil.Process,
                          own_tracker: bool) -> tuple[list[psutil.Process], float]:
    """SIGKILL the run worker; wait for the step child and every other process of the worker to end.

    ``own_tracker``: the run worker started the resource tracker (the CLI); under a code server the
    run worker inherits the server's tracker, which lives on with the server."""
    left = worker.children(recursive=True)  # step child, resource tracker, log tailers
    assert step in left
    assert any("resource_tracker" in line for line in _describe(left)) == own_tracker, _describe(left)
    killed = time.monotonic()
    worker.send_signal(signal.SIGKILL)
    while time.monotonic() - killed < GONE_WITHIN_S and _alive(left):
        time.sleep(0.25)
    return _alive(left), time.monotonic() - killed


@pytest.mark.timeout(150)
def test_step_child_and_resource_tracker_end_when_the_cli_run_worker_is_killed(instance_env, tmp_path):
    log = tmp_path / "run.log"
    run = _start([str(BIN / "dagster"), "asset", "materialize", "-m", "lascopf_assets.definitions",
                  "--select", "raw_measurements", "--partition-range", f"{FIRST}...{LAST}"], instance_env, log)
    try:
        deadline = time.monotonic() + 90
        _wait_for_step_start(log.read_text, deadline, "dagster asset materialize")
        worker = psutil.Process(run.pid)
        step = _step_child(worker, deadline)
        left, after = _kill_worker_and_wait(worker, step, own_tracker=True)
        run.wait(timeout=10)
        assert not left, (f"{after:.0f} s after the SIGKILL of the run worker these remain: {_describe(left)}\n"
                          + log.read_text()[-2000:])
        assert "the run worker (pid" in log.read_text()  # ended by the guard, not by finishing normally
    finally:
        _end_group(run)


def _launch(env: dict, workspace: Path) -> str:
    """Submit the 20-day raw_measurements run through the queue, as the UI does (GraphQL, in a subprocess)."""
    script = f"""
import dagster as dg
from dagster_graphql.client.client_queries import CLIENT_SUBMIT_PIPELINE_RUN_MUTATION
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql
with dg.DagsterInstance.get() as instance, define_out_of_process_context({str(workspace)!r}, None, instance) as ctx:
    tags = [{{"key": "dagster/asset_partition_range_start", "value": {FIRST!r}}},
            {{"key": "dagster/asset_partition_range_end", "value": {LAST!r}}},
            {{"key": "dagster/max_retries", "value": "0"}}]  # no retry run of the killed one in this test
    params = {{"selector": {{"repositoryLocationName": "lascopf_assets", "repositoryName": "__repository__",
                             "jobName": "__ASSET_JOB", "assetSelection": [{{"path": ["raw_measurements"]}}]}},
               "executionMetadata": {{"tags": tags}}}}
    result = execute_dagster_graphql(ctx, CLIENT_SUBMIT_PIPELINE_RUN_MUTATION, {{"executionParams": params}})
    launched = result.data["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", (result.errors, launched)
    print("RUN_ID", launched["run"]["runId"])
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout.split("RUN_ID", 1)[1].split()[0]


def _run_status(env: dict, run_id: str) -> tuple[str, list[str]]:
    """The run's status and its engine events' messages."""
    script = ("import dagster as dg, json\n"
              "with dg.DagsterInstance.get() as i:\n"
              f"    r = i.get_run_by_id({run_id!r})\n"
              f"    logs = i.all_logs({run_id!r}, of_type=dg.DagsterEventType.ENGINE_EVENT)\n"
              "    print('STATUS', json.dumps([r.status.value if r else None, [e.message for e in logs]]))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    status, messages = json.loads(done.stdout.split("STATUS", 1)[1])
    return status, messages


@pytest.mark.timeout(240)
def test_killed_run_worker_under_the_daemon_ends_failed_without_leftovers(instance_env, tmp_path):
    port = dev_servers.free_port()
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {port}\n"
                         "      location_name: lascopf_assets\n")
    server_log, daemon_log = tmp_path / "code_server.log", tmp_path / "daemon.log"
    server = _start([str(BIN / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(port),
                     "-m", "lascopf_assets.definitions"], instance_env, server_log)
    daemon = None
    try:
        daemon = _start([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], instance_env, daemon_log)
        deadline = time.monotonic() + 90
        while "Started Dagster code server" not in server_log.read_text():
            assert server.poll() is None and time.monotonic() < deadline, server_log.read_text()[-3000:]
            time.sleep(0.5)
        run_id = _launch(instance_env, workspace)

        # the daemon dequeues it; the code server starts the run worker, which starts the step child
        deadline = time.monotonic() + 120
        _wait_for_step_start(server_log.read_text, deadline, "run under the daemon")
        step = _step_child(psutil.Process(server.pid), deadline)
        worker = step.parent()
        left, after = _kill_worker_and_wait(worker, step, own_tracker=False)
        assert not left, f"{after:.0f} s after the SIGKILL of the run worker these remain: {_describe(left)}"

        deadline = time.monotonic() + 30
        status, messages = _run_status(instance_env, run_id)
        while status != "FAILURE" and time.monotonic() < deadline:
            time.sleep(1)
            status, messages = _run_status(instance_env, run_id)
        assert status == "FAILURE", (status, server_log.read_text()[-3000:], daemon_log.read_text()[-2000:])
        # failed by the code server's orphan check (run monitoring cannot see a DefaultRunLauncher worker)
        assert any("execution process" in m and "signal 9 (SIGKILL)" in m for m in messages), messages
        assert "the run worker (pid" in server_log.read_text()  # the step child was ended by the guard
    finally:
        if daemon is not None:
            _end_group(daemon)
        _end_group(server)


def _guard_in_a_plain_child(result) -> None:
    from lascopf_assets.defs.executor import guard_step_process

    result.put(guard_step_process())


def test_the_guard_runs_only_in_a_step_child_of_the_multiprocess_executor():
    import multiprocessing

    from lascopf_assets.defs.executor import guard_step_process

    assert guard_step_process() is False  # not a multiprocessing child at all
    ctx = multiprocessing.get_context("spawn")
    result = ctx.Queue()
    child = ctx.Process(target=_guard_in_a_plain_child, args=(result,))
    child.start()
    try:
        assert result.get(timeout=60) is False  # a multiprocessing child, but not Dagster's step child
    finally:
        child.join(timeout=30)
