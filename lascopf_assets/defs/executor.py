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
"""

from __future__ import annotations

import os

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


def executor_from_env() -> dg.ExecutorDefinition | None:
    """The executor ``LASCOPF_EXECUTOR`` asks for; ``None`` (Dagster's default) when unset."""
    name = executor_name()
    if name is None:
        return None
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    from dagster_celery import celery_executor

    return celery_executor.configured(celery_executor_config(), name="lascopf_celery")
