"""Utility-scale benchmark: a 20,000-meter zone of 30 feeders for a year, backfilled, then balanced feeder by feeder.

Stages, each timed on the local profile (Parquet lake, SQLite instance in the work folder):

1. the zone (30 feeders x 40 junctions, 20,000 meters, 365 days of hourly readings, Parquet landing
   files), generated once into ``--work`` and reused;
2. the year backfill of raw_measurements -> validated_loads -> junction_aggregates as ONE run, in
   a child process (its wall time, rows/s and peak RSS are the child's own);
3. ``phase_assignment`` for every feeder (K = 5, the curve to K = 10, a per-feeder time budget),
   one run per feeder partition on the dagster-celery executor, with 1 and then 2 Celery worker
   processes (concurrency 1 each) on a fresh RabbitMQ queue; runs are kept in flight so no worker
   waits for work. Prints each feeder's outcome, the wall times and the speed-up.

Targets (issue "Utility scale"): backfill <= 300 s at <= 4 GB peak RSS; speed-up >= 1.7x on 2
workers; every feeder's K = 5 result proven optimal.

    python benchmarks/utility.py [--feeders 30] [--junctions 40] [--meters 20000] [--days 365]
                                 [--work DIR] [--phase-time-limit 10] [--skip-backfill]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test-support package with the Celery worker harness

from lascopf_assets_tests.celery_cluster import BROKER, CeleryWorkers, broker_problem  # noqa: E402

START = dt.date(2023, 1, 1)
PYTHON = sys.executable
DAILY = ["raw_measurements", "validated_loads", "quarantined_measurements", "junction_aggregates"]


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def local_env(data: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LASCOPF_")}
    env.update(LASCOPF_PROFILE="local", LASCOPF_DATA_DIR=str(data), DAGSTER_HOME=str(home),
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p))
    return env


def ensure_zone(args, zone_dir: Path) -> dict:
    """The zone's landing files and topology, generated once; its summary (cached as JSON)."""
    done = zone_dir / "zone.json"
    if done.exists():
        return json.loads(done.read_text())
    from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone

    started = time.perf_counter()
    params = DemoZoneParams(feeders=args.feeders, junctions=args.junctions, total_meters=args.meters, days=args.days,
                            start=START, glitches=0)
    summary = write_demo_zone(zone_dir / "data", params, fmt="parquet")
    info = {"meters": summary.meters, "junctions": summary.junctions, "rows": summary.rows, "files": summary.files,
            "feeders": summary.feeders, "seconds": time.perf_counter() - started}
    done.write_text(json.dumps(info))
    return info


def backfill_child(data: Path, home: Path, days: int) -> None:
    """In the child process: grid_topology, then the year of daily assets as one single-run backfill."""
    import dagster as dg

    from lascopf_assets.definitions import defs

    d = defs()
    instance = dg.DagsterInstance.get()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

    def run(selection, **kwargs):
        result = dg.materialize(list(d.assets), selection=selection, resources=d.resources, instance=instance,
                                run_config=quiet, **kwargs)
        assert result.success
        return result

    run(["grid_topology"])
    last = (START + dt.timedelta(days=days - 1)).isoformat()
    started = time.perf_counter()
    result = run(DAILY, tags={"dagster/asset_partition_range_start": START.isoformat(), "dagster/asset_partition_range_end": last})
    seconds = time.perf_counter() - started
    meta = {}
    for event in result.get_asset_materialization_events():
        if event.materialization.asset_key.to_user_string() == "validated_loads":
            meta = {k: v.value for k, v in event.materialization.metadata.items()}
    print(json.dumps({"seconds": seconds, "rows_in": meta.get("rows_in"), "rows_valid": meta.get("rows_valid"),
                      "peak_rss_mb": peak_rss_mb()}))


def run_backfill(data: Path, home: Path, days: int) -> dict:
    out = subprocess.run([PYTHON, __file__, "--child-backfill", str(data), str(home), str(days)], env=local_env(data, home),
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"backfill failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def feeder_outcomes(home: Path, feeders: list[str], since: float) -> dict[str, dict]:
    """Each feeder's latest phase_assignment metadata written after ``since`` (epoch seconds)."""
    os.environ["DAGSTER_HOME"] = str(home)
    import dagster as dg

    from lascopf_assets.defs.phase_balancing.assets import latest_feeder_materializations

    with dg.DagsterInstance.get() as instance:
        latest = latest_feeder_materializations(instance, feeders)
    return {feeder: m.metadata for feeder, m in latest.items() if m.timestamp >= since}


def fan_out(data: Path, home: Path, feeders: list[str], workers: int, time_limit: float) -> tuple[float, dict]:
    """Every feeder's phase_assignment through ``workers`` Celery workers; (wall seconds, outcomes)."""
    config = home / "phase_config.yaml"
    config.write_text(json.dumps({"ops": {"phase_assignment": {"config": {
        "max_changes": 5, "curve_max_changes": 10, "time_limit_seconds": time_limit}}}}))
    env = local_env(data, home)
    with CeleryWorkers(home, env, [f"w{i + 1}" for i in range(workers)], module="lascopf_assets.definitions") as cluster:
        started_at, started = time.time(), time.perf_counter()
        results = cluster.materialize_all("lascopf_assets.definitions", "phase_assignment", feeders, ("-c", str(config)),
                                          in_flight=workers + 1, timeout=3 * time_limit * len(feeders) + 600)
        wall = time.perf_counter() - started
    failed = [r["partition"] for r in results if r["returncode"] != 0]
    if failed:
        print(f"  runs that did not succeed: {failed}; the first one's output:\n{results[feeders.index(failed[0])]['output'][-3000:]}")
    return wall, feeder_outcomes(home, feeders, started_at)


def print_feeders(outcomes: dict[str, dict]) -> None:
    print(f"  {'feeder':<8} {'junct':>5} {'K=5 status':<11} {'before':>10} {'after':>10} {'gap':>8} {'changes':>7} "
          f"{'curve proven':>12} {'seconds':>7}")
    for feeder, m in sorted(outcomes.items()):
        curve = m.get("tradeoff_curve", "")
        proven = curve.count("| optimal |")
        print(f"  {feeder:<8} {m['junctions']:>5} {m['status']:<11} {m['imbalance_before']:>10,.1f} "
              f"{m['imbalance_after']:>10,.1f} {m['gap']:>8.1e} {m['n_changes']:>7} {proven:>9}/11 {m['solve_seconds']:>7.1f}")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child-backfill":
        backfill_child(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeders", type=int, default=30)
    parser.add_argument("--junctions", type=int, default=40, help="junctions per feeder")
    parser.add_argument("--meters", type=int, default=20000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--work", default=str(REPO / "benchmarks" / ".work" / "utility"))
    parser.add_argument("--phase-time-limit", type=float, default=10.0, help="seconds per feeder (K and the curve)")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (default 1,2)")
    parser.add_argument("--skip-backfill", action="store_true", help="reuse the lake of an earlier run")
    args = parser.parse_args()

    work = Path(args.work)
    zone_dir = work / f"zone-{args.feeders}x{args.junctions}-{args.meters}m-{args.days}d"
    zone = ensure_zone(args, zone_dir)
    print(f"zone: {len(zone['feeders'])} feeders, {zone['junctions']} junctions, {zone['meters']:,} meters, "
          f"{zone['rows']:,} hourly readings in {zone['files']} Parquet files ({zone_dir}; generated in {zone['seconds']:.0f} s)")
    data, home = zone_dir / "data", zone_dir / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # stock SQLite storages, shared by the workers

    if not args.skip_backfill:
        b = run_backfill(data, home, args.days)
        rows = b["rows_in"] or zone["rows"]
        print(f"\nbackfill, {args.days} days as one run: {b['seconds']:.1f} s, {rows / b['seconds']:,.0f} rows/s, "
              f"peak RSS {b['peak_rss_mb']:,.0f} MB (rows in {rows:,}, valid {b['rows_valid']:,})")
        print(f"  target <= 300 s: {'met' if b['seconds'] <= 300 else 'NOT met'}; "
              f"<= 4 GB: {'met' if b['peak_rss_mb'] <= 4096 else 'NOT met'}")

    problem = broker_problem()
    if problem:
        print(f"\nphase fan-out skipped: {problem}")
        return
    walls = {}
    for workers in [int(w) for w in args.workers.split(",")]:
        wall, outcomes = fan_out(data, home, zone["feeders"], workers, args.phase_time_limit)
        walls[workers] = wall
        print(f"\nphase_assignment, {len(zone['feeders'])} feeders on {workers} Celery worker(s) ({BROKER.split('@')[-1]}): "
              f"{wall:.1f} s wall, {len(outcomes)} feeders materialized")
        print_feeders(outcomes)
        proven = sum(1 for m in outcomes.values() if m["status"] == "optimal")
        print(f"  K = 5 proven optimal: {proven}/{len(zone['feeders'])} "
              f"({'met' if proven == len(zone['feeders']) else 'NOT met'})")
    if 1 in walls and 2 in walls:
        speedup = walls[1] / walls[2]
        print(f"\nspeed-up on 2 workers: {speedup:.2f}x ({'met' if speedup >= 1.7 else 'NOT met'}, target >= 1.7x)")
    print(f"benchmark process peak RSS {peak_rss_mb():,.0f} MB; children {peak_rss_mb(resource.RUSAGE_CHILDREN):,.0f} MB")


if __name__ == "__main__":
    main()
