"""Real dagster-celery workers as subprocesses, and partition runs sent to them (test and benchmark support).

:class:`CeleryWorkers` starts ``dagster-celery worker start`` processes (concurrency 1 each, names
``<name>-<token>@<host>``: two sessions on one broker must not share a node name, whose pidbox queue
is exclusive) on a fresh queue of the broker, with the ``DAGSTER_HOME`` the runs use (one
machine: the SQLite instance is shared through the folder), waits until each says it is ready, and
stops them and their pool children on exit whatever happened. Runs are ``dagster asset materialize
--partition KEY`` processes with ``LASCOPF_EXECUTOR=celery``: each run's step becomes a Celery task.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from lascopf_assets.defs.executor import CELERY_BACKEND_ENV, CELERY_BROKER_ENV, CELERY_QUEUE_ENV, EXECUTOR_ENV

REPO = Path(__file__).resolve().parents[1]
WORKER_CONFIG = REPO / "docker" / "celery_worker.yaml"  # the workers' config the deployment ships
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))
BIN = str(Path(PYTHON).parent)  # dagster-celery runs `celery` from PATH: the venv's bin comes first

# RabbitMQ's and Redis's well-known local defaults; override to point at other servers
BROKER = os.environ.get("LASCOPF_TEST_CELERY_BROKER", "pyamqp://guest:guest@127.0.0.1:5672//")
REDIS = os.environ.get("LASCOPF_TEST_CELERY_REDIS", "redis://127.0.0.1:6379/0")


def answers(url: str, default_port: int) -> tuple[str, int, bool]:
    """``(host, port, whether a TCP connection to it succeeds)``."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=1):
            return host, port, True
    except OSError:
        return host, port, False


def broker_problem() -> str | None:
    """Why the broker cannot be used here (a sentence naming it), or None when it takes an AMQP connection."""
    host, port, up = answers(BROKER, 5672)
    if not up:
        return f"no RabbitMQ broker answers on {host}:{port} (start rabbitmq-server or set LASCOPF_TEST_CELERY_BROKER)"
    from kombu import Connection

    try:
        with Connection(BROKER, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - any refusal means the broker is not usable here
        return f"the broker on {host}:{port} refused an AMQP connection: {exc!r} (set LASCOPF_TEST_CELERY_BROKER)"
    return None


def redis_problem() -> str | None:
    """Why Redis cannot serve as the result backend here, or None."""
    host, port, up = answers(REDIS, 6379)
    if not up:
        return (f"no Redis answers on {host}:{port} for the Celery result backend "
                "(start redis-server or set LASCOPF_TEST_CELERY_REDIS)")
    import redis

    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        return f"Redis on {host}:{port} did not answer PING: {exc!r}"
    return None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def stop(procs: list[subprocess.Popen], timeout: float = 20) -> None:
    """End processes started in their own sessions and everything in their groups (celery and its pool), by group id.

    dagster-celery's CLI runs celery as a child: the CLI ending is not enough, the group must be empty.
    All are signalled first and then waited for together (a warm shutdown takes a few seconds each).
    """
    def done(proc):
        return proc.poll() is not None and not _group_alive(proc.pid)

    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        for proc in procs:
            if not done(proc):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not all(done(p) for p in procs):
            time.sleep(0.1)
        if all(done(p) for p in procs):
            return
    for proc in procs:
        proc.wait(timeout=5)


def celery_env(base: dict[str, str], home: Path, queue: str, backend_url: str = "rpc://") -> dict[str, str]:
    """``base`` plus what runs and workers need to meet on ``queue`` (Celery's own env names dropped)."""
    env = {k: v for k, v in base.items() if k not in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}
    env.update({
        "DAGSTER_HOME": str(home),
        EXECUTOR_ENV: "celery",
        CELERY_BROKER_ENV: BROKER,
        CELERY_BACKEND_ENV: backend_url,
        CELERY_QUEUE_ENV: queue,
        "PATH": BIN + os.pathsep + base.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), base.get("PYTHONPATH", "")) if p),
        "PYTHONUNBUFFERED": "1",
    })
    return env


class CeleryWorkers:
    """``with CeleryWorkers(home, env, ["w1", "w2"], module) as workers:`` real workers on a fresh queue.

    ``env`` is the environment of the runs and the workers (profile, data folders); the Celery
    settings are added to it. The instance under ``home`` must exist before (create its SQLite
    storages once: processes creating them at the same moment race on the schema).
    """

    def __init__(self, home: Path, env: dict[str, str], names: list[str], module: str, backend_url: str = "rpc://",
                 ready_timeout: float = 60):
        self.home = Path(home)
        self.names = list(names)
        self.module = module
        self.token = uuid.uuid4().hex[:12]
        self.queue = f"lascopf-{self.token}"  # nobody else's workers listen here
        self.env = celery_env(env, self.home, self.queue, backend_url)
        self.hostname = socket.gethostname()
        self.logs = {name: self.home / f"celery_{name}_{self.queue}.log" for name in self.names}
        self.ready_timeout = ready_timeout
        self._procs: dict[str, subprocess.Popen] = {}

    def node(self, name: str) -> str:
        """Celery's node name of worker ``name`` (w1, w2)."""
        return f"{name}-{self.token}@{self.hostname}"

    @property
    def worker_names(self) -> set[str]:
        return {self.node(name) for name in self.names}

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")

    def __enter__(self) -> CeleryWorkers:
        try:
            for name in self.names:
                # dagster-celery appends "@%h" to -n itself: -n w1-TOKEN is celery's `-n w1-TOKEN@%h`
                with self.logs[name].open("w") as sink:
                    self._procs[name] = subprocess.Popen(
                        [PYTHON, "-m", "dagster_celery.cli", "worker", "start", "-A", "dagster_celery.app",
                         "-y", str(WORKER_CONFIG), "-q", self.queue, "-n", f"{name}-{self.token}", "-i", self.module,
                         "--loglevel", "INFO", "--", "--concurrency", "1", "--without-gossip", "--without-mingle"],
                        cwd=REPO, env=self.env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
                    )
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        waiting = set(self.names)
        while waiting and time.monotonic() < deadline:
            for name in sorted(waiting):
                if f"{self.node(name)} ready." in self.log(name):
                    waiting.discard(name)
                elif self._procs[name].poll() is not None:
                    raise RuntimeError(f"celery worker {name} exited with {self._procs[name].returncode}:\n{self.log(name)[-3000:]}")
            time.sleep(0.2)
        if waiting:
            tails = "\n".join(self.log(n)[-2000:] for n in sorted(waiting))
            raise RuntimeError(f"celery workers {sorted(waiting)} not ready in {self.ready_timeout:.0f} s:\n{tails}")

    def __exit__(self, *exc) -> None:
        stop(list(self._procs.values()))

    def _start_run(self, module: str, asset: str, key: str, extra_args: tuple[str, ...]) -> tuple[subprocess.Popen, Path]:
        out = self.home / f"run_{asset}_{key}_{self.queue}.log"
        command = [PYTHON, "-m", "dagster", "asset", "materialize", "-m", module, "--select", asset, "--partition", key,
                   *extra_args]
        with out.open("w") as sink:
            proc = subprocess.Popen(command, cwd=REPO, env=self.env, stdout=sink, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        return proc, out

    def materialize_all(self, module: str, asset: str, partitions: list[str], extra_args: tuple[str, ...] = (),
                        in_flight: int | None = None, timeout: float = 90) -> list[dict]:
        """One ``dagster asset materialize`` process (one run) per partition, at most ``in_flight`` at once
        (default: all at once); ``extra_args`` go to each (e.g. ``("-c", config.yaml)``).
        Returns ``[{"partition", "returncode", "output"}]`` in partition order (returncode None: timed out)."""
        limit = in_flight or len(partitions)
        pending = list(partitions)
        running: dict[str, tuple[subprocess.Popen, Path]] = {}
        done: dict[str, dict] = {}
        deadline = time.monotonic() + timeout
        try:
            while pending or running:
                while pending and len(running) < limit:
                    key = pending.pop(0)
                    running[key] = self._start_run(module, asset, key, extra_args)
                for key, (proc, out) in list(running.items()):
                    if proc.poll() is not None:
                        done[key] = {"partition": key, "returncode": proc.returncode, "output": out.read_text(errors="replace")}
                        del running[key]
                if time.monotonic() > deadline:
                    for key, (_, out) in running.items():
                        done[key] = {"partition": key, "returncode": None, "output": out.read_text(errors="replace")}
                    for key in pending:
                        done[key] = {"partition": key, "returncode": None, "output": "not started: timeout"}
                    break
                time.sleep(0.1)
        finally:
            stop([proc for proc, _ in running.values()], timeout=5)
        return [done[key] for key in partitions]
