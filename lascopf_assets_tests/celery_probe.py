"""Test-only code location for the Celery plumbing: one dynamic-partitioned asset that says where it ran.

Each partition's step sleeps ``LASCOPF_TEST_PROBE_SECONDS`` (default 2 s), so several runs in
flight keep several workers busy, and records in its materialization metadata the host, the
process id and the Celery worker that executed it (``celery.current_task``: empty unless the
step really ran as a Celery task), and when it started and finished. The executor is the project's own ``executor_from_env()``.

    LASCOPF_EXECUTOR=celery dagster asset materialize -m lascopf_assets_tests.celery_probe \\
        --select celery_probe --partition p1
"""

import os
import socket
import time

import dagster as dg

from lascopf_assets.defs.executor import executor_from_env

PROBE_PARTITIONS = dg.DynamicPartitionsDefinition(name="celery_probes")
SECONDS_ENV = "LASCOPF_TEST_PROBE_SECONDS"


@dg.asset(partitions_def=PROBE_PARTITIONS)
def celery_probe(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    started = time.time()
    time.sleep(float(os.environ.get(SECONDS_ENV, "2")))
    from celery import current_task

    worker = current_task.request.hostname if current_task is not None and current_task.request.id else ""
    return dg.MaterializeResult(
        metadata={
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "celery_worker": worker or "",
            "partition": context.partition_key,
            "started": started,
            "finished": time.time(),
        }
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[celery_probe], executor=executor_from_env())
