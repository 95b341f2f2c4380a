"""Prometheus metrics of the platform, served by the API process at ``/metrics``.

Where each number comes from:

* ``lascopf_ingestion_rows_total{source, outcome}`` (counter; outcome ``valid``, ``quarantined``,
  ``redelivered``): the materialization metadata ``validated_loads`` records (``rows_valid``,
  ``rows_quarantined``, ``rows_redelivered`` and the ``per_file`` table), read from the Dagster
  instance's event log. Counted once per run: a single-run range writes one materialization per day,
  each carrying the whole range's figures. ``source`` is the landing file's kind from its name:
  ``nats`` / ``mqtt`` (stream consumer files ``<source>.<stream>.<consumer>.<first>-<last>.csv``),
  ``s3`` (``bucket/key``), ``folder`` (anything else); rows of files beyond the table's listed ones
  count as ``unlisted``.
* ``lascopf_landing_files_rejected{source, kind}`` (gauge): the stored ``rejected_landing_files``
  table (distinct file versions), read through the API's store.
* ``lascopf_solver_seconds{kind}`` (histogram; ``phase_balancing``, ``lascopf_dispatch``): each
  ``phase_assignment`` materialization's ``solve_seconds`` and each ``lascopf_dispatch`` one's
  ``seconds`` (event log).
* ``lascopf_last_solve_status{kind, partition, status}`` (gauge, 1 for the latest status of that feeder
  or day, 0 for the others of ``lib.solver_status``): the newest materialization's ``status``.
* ``lascopf_phase_gap{feeder}`` (gauge): the newest ``phase_assignment``'s ``gap``.
* ``lascopf_landing_newest_file_age_seconds`` (gauge): now minus the newest landing file's mtime in
  the landing folder the sensors watch (``LASCOPF_LANDING_DIR``, else ``<data>/landing``): how far
  behind a sensor tick would be if nothing new arrived. ``lascopf_landing_files`` counts them.
  Production (``S3LandingWatch``): the landing bucket the S3 sensor watches, not the local cache of what
  runs already downloaded (which misses exactly the objects still waiting): one delimiter listing of the
  day folders under ``LASCOPF_S3_LANDING_PREFIX``, then the newest day folder with objects (both
  spellings, ``<day>/`` and ``date=<day>/``); the age is its newest object's LastModified, the count its
  accepted objects.

The event log is read incrementally (after the last storage id seen, per asset), with the public
``DagsterInstance.fetch_materializations``; without ``DAGSTER_HOME`` the instance metrics are absent
and ``lascopf_metrics_instance_up`` is 0.
"""

from __future__ import annotations

import os
import re
import threading
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from lascopf_assets.lib.solver_status import ERROR, INFEASIBLE, OPTIMAL, TIME_LIMIT
from lascopf_assets.storage.s3_landing import S3_LANDING_ENV, s3_client

STATUSES = (OPTIMAL, TIME_LIMIT, INFEASIBLE, ERROR)
SOLVER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
SOLVES = {"phase_assignment": ("phase_balancing", "solve_seconds"), "lascopf_dispatch": ("lascopf_dispatch", "seconds")}
_STREAM_FILE = re.compile(r"^(?P<source>[A-Za-z0-9][A-Za-z0-9_-]*)\.[^./]+\.[^./]+\.\d+-\d+\.csv$")
OUTCOMES = {"valid": "rows_valid", "quarantined": "rows_quarantined", "redelivered": "rows_redelivered"}


def source_of(file: str) -> str:
    name = file.rsplit("/", 1)[-1]
    match = _STREAM_FILE.match(name)
    if match:
        return match.group("source")
    if "/" in file and not file.startswith("/"):
        return "s3"  # LandingFile.shown of an S3 object: bucket/key
    return "folder"


def per_file_rows(markdown: str) -> tuple[list[dict], bool]:
    """The rows of the ``per_file`` markdown table (``defs/metadata.markdown_table``) and whether it lists every file."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    if len(lines) < 2:
        return [], "more rows" not in markdown
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == len(header):
            rows.append(dict(zip(header, cells)))
    return rows, "more rows" not in markdown


def _int(value) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


class PlatformMetrics:
    def __init__(self, landing_dir: str, results=None, instance_factory=None, landing_watch=None):
        self.landing_dir = landing_dir
        self.landing_watch = landing_watch  # S3LandingWatch in production; None: the landing folder
        self.results = results  # readers.Results, for the stored rejections
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.rows = Counter("lascopf_ingestion_rows", "Readings ingested, by landing source and outcome",
                            ["source", "outcome"], registry=r)
        self.rejected = Gauge("lascopf_landing_files_rejected", "Landing files that could not be ingested (stored "
                              "rejected_landing_files, distinct file versions)", ["source", "kind"], registry=r)
        self.solver = Histogram("lascopf_solver_seconds", "Solver wall-clock seconds per solve", ["kind"],
                                buckets=SOLVER_BUCKETS, registry=r)
        self.status = Gauge("lascopf_last_solve_status", "1 for the latest solve status of a feeder or day",
                            ["kind", "partition", "status"], registry=r)
        self.gap = Gauge("lascopf_phase_gap", "Relative optimality gap of the last phase balancing solve", ["feeder"],
                         registry=r)
        self.landing_age = Gauge("lascopf_landing_newest_file_age_seconds", "Age of the newest landing file",
                                 registry=r)
        self.landing_files = Gauge("lascopf_landing_files", "Landing files in the landing folder (S3: in the newest "
                                   "day folder)", registry=r)
        self.instance_up = Gauge("lascopf_metrics_instance_up", "1 when the Dagster instance could be read",
                                 registry=r)
        self._instance_factory = instance_factory or _instance_from_env
        self._instance = None
        self._cursors: dict[str, int] = {}
        self._seen_runs: dict[str, set] = {}
        self._lock = threading.Lock()
        self._rejected_labels: set = set()

    # -- the refresh on each scrape -------------------------------------------------
    def scrape(self) -> bytes:
        with self._lock:
            self._refresh_instance()
            self._refresh_rejections()
            self._refresh_landing()
            return generate_latest(self.registry)

    def _refresh_instance(self) -> None:
        try:
            if self._instance is None:
                self._instance = self._instance_factory()
            if self._instance is None:
                self.instance_up.set(0)
                return
            for asset in ("validated_loads", *SOLVES):
                for record in self._new_materializations(asset):
                    self._take(asset, record)
            self.instance_up.set(1)
        except Exception:  # an unreadable instance must not break the scrape
            self.instance_up.set(0)

    def _new_materializations(self, asset: str):
        import dagster as dg

        while True:
            result = self._instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), after_storage_id=self._cursors.get(asset)),
                limit=500, ascending=True,
            )
            for record in result.records:
                self._cursors[asset] = record.storage_id
                yield record
            if not result.has_more or not result.records:
                return

    def _take(self, asset: str, record) -> None:
        entry = record.event_log_entry
        materialization = entry.asset_materialization
        if materialization is None:
            return
        meta = {k: v.value for k, v in materialization.metadata.items()}
        partition = materialization.partition or ""
        if asset == "validated_loads":
            seen = self._seen_runs.setdefault(asset, set())
            if entry.run_id in seen or "rows_valid" not in meta:
                return
            seen.add(entry.run_id)
            self._count_rows(meta)
            return
        kind, seconds_key = SOLVES[asset]
        if seconds_key in meta:
            self.solver.labels(kind).observe(float(meta[seconds_key]))
        status = meta.get("status")
        if status is not None:
            for s in STATUSES:
                self.status.labels(kind, partition, s).set(1 if s == status else 0)
        if asset == "phase_assignment" and "gap" in meta:
            self.gap.labels(partition).set(float(meta["gap"]))

    def _count_rows(self, meta: dict) -> None:
        listed, complete = per_file_rows(str(meta.get("per_file", "")))
        totals = {outcome: _int(meta.get(key)) for outcome, key in OUTCOMES.items()}
        shown = dict.fromkeys(OUTCOMES, 0)
        for row in listed:
            source = source_of(row.get("source_file", ""))
            for outcome, key in OUTCOMES.items():
                n = _int(row.get(key))
                shown[outcome] += n
                if n:
                    self.rows.labels(source, outcome).inc(n)
        for outcome, total in totals.items():
            rest = total - shown[outcome]
            if rest > 0:
                self.rows.labels("unlisted" if listed or not complete else "folder", outcome).inc(rest)
        for outcome in OUTCOMES:  # every outcome is exported, at 0 until it happens
            self.rows.labels("folder", outcome)

    def _refresh_rejections(self) -> None:
        if self.results is None:
            return
        frame = self.results.store.table("rejected_landing_files")
        counts: dict[tuple[str, str], int] = {}
        if frame is not None and len(frame):
            for file, kind in frame.drop_duplicates("identity")[["file", "kind"]].itertuples(index=False):
                key = (source_of(str(file)), str(kind))
                counts[key] = counts.get(key, 0) + 1
        for key in self._rejected_labels - set(counts):
            self.rejected.labels(*key).set(0)
        for key, n in counts.items():
            self.rejected.labels(*key).set(n)
        self._rejected_labels |= set(counts)

    def _refresh_landing(self) -> None:
        if self.landing_watch is not None:
            try:
                n, newest = self.landing_watch.newest()
            except Exception:  # an unreachable bucket must not break the scrape: the age is unknown
                n, newest = 0, None
            self.landing_files.set(n)
            self.landing_age.set(max(0.0, time.time() - newest) if newest is not None else float("nan"))
            return
        newest, n = None, 0
        try:
            with os.scandir(self.landing_dir) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or not entry.is_file():
                        continue  # hidden: temporaries (the stream consumer's, scan_landing skips them)
                    n += 1
                    mtime = entry.stat().st_mtime
                    newest = mtime if newest is None else max(newest, mtime)
        except FileNotFoundError:
            pass
        self.landing_files.set(n)
        self.landing_age.set(max(0.0, time.time() - newest) if newest is not None else float("nan"))


class S3LandingWatch:
    """The newest objects of the S3 landing bucket, in a few list calls (never the whole bucket)."""

    LOOK_BACK_DAYS = 7  # day folders tried, newest first, for one with an accepted object

    def __init__(self, client, bucket: str, prefix: str):
        self.client, self.bucket, self.prefix = client, bucket, prefix

    @classmethod
    def from_env(cls, environ: dict | None = None) -> S3LandingWatch | None:
        env = os.environ if environ is None else environ
        names = S3_LANDING_ENV
        if not env.get(names["bucket"]):
            return None
        client = s3_client(env.get(names["endpoint_url"]), env.get(names["access_key"]), env.get(names["secret_key"]),
                           env.get(names["region"]) or "us-east-1", attempts=2, connect_timeout=3, read_timeout=10)
        return cls(client, env[names["bucket"]], env.get(names["prefix"], ""))

    def days(self) -> list[str]:
        """The days of the day folders under the prefix, newest first."""
        from lascopf_assets.storage.s3_landing import day_of_folder

        base = self.prefix.strip("/") + "/" if self.prefix.strip("/") else ""
        days = set()
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                day = day_of_folder(common["Prefix"][len(base):].rstrip("/"))
                if day:
                    days.add(day)
        return sorted(days, reverse=True)

    def newest(self) -> tuple[int, float | None]:
        """(accepted objects of the newest day folder holding any, their newest LastModified in epoch seconds)."""
        from lascopf_assets.storage.s3_landing import list_day

        for day in self.days()[: self.LOOK_BACK_DAYS]:
            accepted, _refused = list_day(self.client, self.bucket, self.prefix, day)
            if accepted:
                return len(accepted), max(o.last_modified for o in accepted)
        return 0, None


def _instance_from_env():
    if not os.environ.get("DAGSTER_HOME"):
        return None
    import dagster as dg

    return dg.DagsterInstance.get()
