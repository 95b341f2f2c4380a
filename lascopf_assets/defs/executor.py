"""The run executor, chosen by the environment (read once, in ``definitions.defs()``).

``LASCOPF_EXECUTOR``:

| value | executor | steps run |
|---|---|---|
| unset | Dagster's default (``multi_or_in_process_executor``, multiprocess) | one process per step, on the run's machine |
| ``multiprocess`` | ``dg.multiprocess_executor`` | the same, named explicitly |
| ``in_process`` | ``dg.in_process_executor`` | inside the run process, one after another |
| ``celery`` | ``dagster_celery.celery_executor`` | each step is a Celery task; any worker on the queue runs it |

Feeder partitions are separate runs: several runs in flight keep several steps (and so several
Celery workers) busy.

Celery settings come from the environment, never from code: ``LASCOPF_CELERY_BROKER`` (required,
the broker URL with its credentials, e.g. RabbitMQ's ``pyamqp://`` or ``redis://``),
``LASCOPF_CELERY_BACKEND`` (result backend, default ``rpc://``, i.e. back over the broker) and
``LASCOPF_CELERY_QUEUE`` (default ``dagster``). The broker and backend URLs reach the executor
as ``{"env": ...}`` config, resolved in the run process, so they are neither written into the
definitions nor stored with the runs. Workers are started with the same values
(``dagster-celery worker start -A dagster_celery.app -y <config> -q <queue>``, see
docker/README.md) and import ``lascopf_assets.definitions`` from the run's code pointer, so they
need the package and the same environment as the runs.

**A step process outlives a killed run worker** (Dagster 1.13's multiprocess executor, issue 15
defect 8): the step child sends its events to the run worker over a ``multiprocessing.Queue`` and
never watches the worker itself. After a SIGKILL of the worker the child finishes its step, its
queue's feeder thread blocks writing to the full pipe (the child holds the pipe's read end too, so
the write never fails) and, at exit, ``Queue._finalize_join`` waits for that thread for ever; the
multiprocessing resource tracker waits for the child. A range run's 30 materializations are about
220 kB of events, far beyond the 64 kB pipe. :func:`guard_step_process` (called when the definitions
load, so in every step child) ends such a child: see its docstring.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading

import dagster as dg

EXECUTOR_ENV = "LASCOPF_EXECUTOR"
EXECUTORS = ("in_process", "multiprocess", "celery")
CELERY_BROKER_ENV = "LASCOPF_CELERY_BROKER"
CELERY_BACKEND_ENV = "LASCOPF_CELERY_BACKEND"
CELERY_QUEUE_ENV = "LASCOPF_CELERY_QUEUE"
DEFAULT_CELERY_BACKEND = "rpc://"
DEFAULT_CELERY_QUEUE = "dagster"  # dagster-celery's own default queue


def executor_name() -> str | None:
    """The ``LASCOPF_EXECUTOR`` value (lower case), ``None`` when unset or empty."""
    name = os.environ.get(EXECUTOR_ENV, "").strip().lower()
    if not name:
        return None
    if name not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV}={name!r}: expected one of {', '.join(EXECUTORS)} (unset: Dagster's default multiprocess)")
    return name


def celery_queue() -> str:
    return os.environ.get(CELERY_QUEUE_ENV, "").strip() or DEFAULT_CELERY_QUEUE


def celery_executor_config() -> dict:
    """The ``celery_executor`` config of this environment: URLs as env sources, the queue by name."""
    if not os.environ.get(CELERY_BROKER_ENV, "").strip():
        raise ValueError(
            f"{EXECUTOR_ENV}=celery needs {CELERY_BROKER_ENV}, the Celery broker URL "
            "(e.g. pyamqp://USER:PASSWORD@HOST:5672// for RabbitMQ); it is not set"
        )
    backend = {"env": CELERY_BACKEND_ENV} if os.environ.get(CELERY_BACKEND_ENV, "").strip() else DEFAULT_CELERY_BACKEND
    return {
        "broker": {"env": CELERY_BROKER_ENV},
        "backend": backend,
        # steps go to this queue; workers listen on it with `-q`
        "config_source": {"task_default_queue": celery_queue()},
    }


# after its run worker died, a step child has this long to end by itself before it is ended hard
RUN_WORKER_GONE_GRACE_S = 20.0
RUN_WORKER_GONE_EXIT_CODE = 70
_guard_lock = threading.Lock()
_guard_thread: threading.Thread | None = None


def _dagster_step_child() -> tuple[object, object] | None:
    """``(run worker, event queue)`` when this process is a step child of Dagster's multiprocess executor.

    Fenced private API (dagster 1.13): the child is a ``multiprocessing`` process whose target is
    ``child_process_executor._execute_command_in_child_process(event_queue, command)``. Anything
    else (the run worker, a code server, a Celery worker, in-process runs, tests) gets ``None``.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return None
    try:
        from dagster._core.executor.child_process_executor import _execute_command_in_child_process
    except ImportError:  # moved in a later Dagster: no guard rather than a wrong one
        return None
    current = multiprocessing.current_process()
    if getattr(current, "_target", None) is not _execute_command_in_child_process:
        return None
    args = getattr(current, "_args", ())
    return parent, (args[0] if args else None)


def _end_when_run_worker_dies(parent, event_queue, grace_s: float) -> None:
    multiprocessing.connection.wait([parent.sentinel])  # readable (EOF) once the run worker is gone
    print(f"lascopf: the run worker (pid {parent.pid}) is gone; interrupting step process {os.getpid()}, "
          f"ended in {grace_s:.0f} s at the latest", file=sys.stderr, flush=True)
    # nobody reads the event queue any more: let the process exit without flushing it
    cancel = getattr(event_queue, "cancel_join_thread", None)
    if cancel is not None:
        cancel()
    # what Dagster does when a run is terminated: SIGINT, raised in the step's code as an interrupt,
    # so open transactions roll back and temporaries are cleaned up (each day's write is atomic)
    os.kill(os.getpid(), signal.SIGINT)
    threading.Event().wait(grace_s)
    # still here (the interrupt fell between user code, or cleanup is stuck): end now
    print(f"lascopf: step process {os.getpid()} did not end within {grace_s:.0f} s of its run worker; "
          "exiting", file=sys.stderr, flush=True)
    os._exit(RUN_WORKER_GONE_EXIT_CODE)


def guard_step_process(grace_s: float = RUN_WORKER_GONE_GRACE_S) -> bool:
    """In a step child of the multiprocess executor, end the process when its run worker dies.

    A daemon thread waits on the run worker's ``multiprocessing`` sentinel. When it fires: cancel
    the join of the event queue's feeder thread (the hang of issue 15 defect 8), interrupt the step
    like a termination does, and ``os._exit`` after ``grace_s`` if the process is still alive. The
    run itself is then failed by whoever watches it (the code server's orphan check, the daemon's run
    monitoring). Idempotent; a no-op outside such a child. Returns whether the guard runs.
    """
    global _guard_thread
    found = _dagster_step_child()
    if found is None:
        return False
    with _guard_lock:
        if _guard_thread is None or not _guard_thread.is_alive():
            parent, event_queue = found
            _guard_thread = threading.Thread(target=_end_when_run_worker_dies, args=(parent, event_queue, grace_s),
                                             name="lascopf-run-worker-guard", daemon=True)
            _guard_thread.start()
    return True


def executor_from_env() -> dg.ExecutorDefinition | None:
    """The executor ``LASCOPF_EXECUTOR`` asks for; ``None`` (Dagster's default) when unset.

    Also starts :func:`guard_step_process` when this process is a multiprocess step child (its
    definitions load through here)."""
    guard_step_process()
    name = executor_name()
    if name is None:
        return None
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    from dagster_celery import celery_executor

    return celery_executor.configured(celery_executor_config(), name="lascopf_celery")
