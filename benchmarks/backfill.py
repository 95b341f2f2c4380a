"""Backfill benchmark: a demo zone's year through raw -> validated (+ quarantine) -> aggregates as ONE run.

The zone (``--feeders``, ``--junctions`` per feeder or ``--feeder-junctions``, ``--meters`` in all,
``--days``) is generated once into ``<work>/cache/<zone>/`` (landing files as CSV or Parquet,
``--format``) and reused by later runs. Each measured backfill runs in a fresh child process on
the local profile (SQLite instance, Parquet lake, a cold landing index under ``<work>/runs/``),
so its peak RSS (ru_maxrss of the child) is the backfill's own:

  1. the whole range as one single-run backfill: seconds, rows/s, peak RSS;
  2. with ``--growth-days N``: the same for the first N days, to show whether memory grows
     with the number of days (and run it for two zone sizes to compare meters);
  3. with ``--month-days N``: one run per day partition for N days, and the per-day cost ratio;
  4. with ``--compare-code DIR``: step 1 (and 2) again with the code of another checkout
     (e.g. ``git worktree add /tmp/old 774580d``), same venv, same files; ``--compare-days N``
     limits those runs to the first N days (the old one-frame range needs ~15x the rows' size).

``--interval-minutes N`` (5, 10, 15, 20, 30; default 60) writes the zone's readings at N-minute
intervals (issue 11: AMI meters report every 15 minutes), each meter-hour split into 60/N readings
that sum to its kWh; ingestion rolls them up to hourly kWh. A 15-minute year of the default zone is
70 M interval readings (about 4x the hourly rows and landing bytes). Sub-hourly zones are cached
apart (``-i15`` in the folder name; hourly folders keep their names). ``--generate-only`` writes
(or finds) the zone, prints its generation time and peak RSS, and runs no backfill.

    python benchmarks/backfill.py                      # 2,010 meters, 365 days (the default)
    python benchmarks/backfill.py --feeders 10 --junctions 40 --meters 20000 --format parquet --growth-days 90
    python benchmarks/backfill.py --interval-minutes 15          # the default zone, 15-minute readings
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START = dt.date(2023, 1, 1)
TARGET_SECONDS, TARGET_RSS_MB = 300, 4096  # issue 10, for 20,000 meters x 365 days


def peak_rss_mb() -> float:
    """Peak RSS of this process since it started (VmHWM), MB; ru_maxrss where /proc is absent.

    ru_maxrss alone would not do in a child: Linux carries the pre-exec image's high-water mark
    (here the parent that generated the zone) into it. The children this process waited for
    (none here: the in-process executor) are the larger of the two when they peak higher."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    try:
        with open("/proc/self/status") as handle:
            own = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return max(own, children)


def current_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# -- the zone, generated once -----------------------------------------------------------------


def zone_params(args):
    from lascopf_assets.lib.zone.demo import DemoZoneParams

    return DemoZoneParams(
        feeders=args.feeders, junctions=args.junctions, feeder_junctions=args.feeder_junctions,
        total_meters=args.meters, days=args.days, start=START, seed=args.seed, interval_minutes=args.interval_minutes,
    )


def cached_zone(args, work: Path) -> tuple[Path, dict]:
    """The zone's folder (landing/, topology/, zone.json) under ``work/cache``, generated when absent."""
    feeders = ",".join(map(str, args.feeder_junctions)) if args.feeder_junctions else f"{args.feeders}x{args.junctions}"
    interval = "" if args.interval_minutes == 60 else f"-i{args.interval_minutes}"  # hourly caches keep their names
    folder = work / "cache" / f"zone-{feeders}-m{args.meters}-d{args.days}-s{args.seed}{interval}-{args.format}"
    info_path = folder / "zone.json"
    if info_path.exists():
        return folder, json.loads(info_path.read_text())
    from lascopf_assets.lib.zone.demo import write_demo_zone

    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    summary = write_demo_zone(folder, zone_params(args), fmt=args.format)
    info = {"meters": summary.meters, "junctions": summary.junctions, "feeders": args.feeders, "rows": summary.rows,
            "files": summary.files, "format": args.format, "generated_s": round(time.perf_counter() - started, 1),
            "landing_bytes": sum(p.stat().st_size for p in summary.paths), "interval_minutes": args.interval_minutes,
            "generated_peak_rss_mb": round(peak_rss_mb())}
    info_path.write_text(json.dumps(info))
    return folder, info


# -- one measured backfill, in a child process ------------------------------------------------


def child(spec: dict) -> None:
    """Runs in the child: topology, then the range as one run; prints one JSON line."""
    import dagster as dg

    from lascopf_assets.definitions import defs
    from lascopf_assets.defs.ingestion import assets as ingestion

    try:
        from lascopf_assets.defs.ingestion.topology import grid_topology
    except ImportError:  # older checkouts kept it in assets.py
        grid_topology = ingestion.grid_topology
    assets = [grid_topology, ingestion.raw_measurements, ingestion.validated_loads, ingestion.junction_aggregates]
    daily = ["raw_measurements", "validated_loads", "quarantined_measurements", "junction_aggregates"]
    definitions = defs()
    instance = dg.DagsterInstance.get()  # the project's dagster.yaml in the run's DAGSTER_HOME
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

    def materialize(selection, must_succeed=True, **kwargs):
        result = dg.materialize(assets, selection=selection, resources=definitions.resources, instance=instance,
                                run_config=quiet, raise_on_error=must_succeed, **kwargs)
        assert result.success or not must_succeed
        return result

    out: dict = {}
    if spec["mode"] == "topology":  # its own process: the backfill's peak is the backfill's alone
        started = time.perf_counter()
        materialize(["grid_topology"])
        out["seconds"] = time.perf_counter() - started
    elif spec["mode"] == "range":
        out["rss_before_mb"] = round(current_rss_mb())
        started = time.perf_counter()
        # A failed run still reports its figures (then the parent fails): a blocking check that stops
        # junction_aggregates, e.g. sub-hourly rows quarantined by a validation without the roll-up.
        result = materialize(daily, must_succeed=False, tags={"dagster/asset_partition_range_start": spec["first"],
                                                              "dagster/asset_partition_range_end": spec["last"]})
        out["seconds"] = time.perf_counter() - started
        out["failed"] = [] if result.success else sorted(
            {f"check {e.asset_key.to_user_string()}:{e.check_name}" for e in result.get_asset_check_evaluations()
             if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR}  # not the WARN ones a good run has
            | {f"step {key}" for key in result.get_failed_step_keys()}
        )

        def first_metadata(key):
            found = [e.materialization.metadata for e in result.get_asset_materialization_events()
                     if e.materialization.asset_key.to_user_string() == key]
            if not found:
                raise RuntimeError(f"the backfill did not materialize {key}; failed: {out['failed']}")
            return found[0]

        out["rows"] = int(first_metadata("raw_measurements")["rows_ingested"].value)
        validated = first_metadata("validated_loads")  # the range's totals, on every day's materialization
        for name in ("rows_valid", "rows_quarantined", "quarantined_by_rule"):
            if name in validated:  # older checkouts may not report them
                out[name] = validated[name].value
    else:  # one run per day partition
        out["rss_before_mb"] = round(current_rss_mb())
        started = time.perf_counter()
        for day in spec["days"]:
            materialize(daily, partition_key=day)
        out["seconds"] = time.perf_counter() - started
    out["peak_rss_mb"] = round(peak_rss_mb())
    print("BENCH " + json.dumps(out), flush=True)


def _child_process(run_dir: Path, zone: Path, spec: dict, code: Path | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LASCOPF_")}
    env.update(
        LASCOPF_PROFILE="local", LASCOPF_DATA_DIR=str(run_dir / "data"), DAGSTER_HOME=str(run_dir / "dagster_home"),
        LASCOPF_LANDING_DIR=str(zone / "landing"), LASCOPF_TOPOLOGY_DIR=str(zone / "topology"),
    )
    if code is not None:  # another checkout's package first on the path, the same venv
        env["PYTHONPATH"] = os.pathsep.join([str(code), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [sys.executable, "-W", "ignore", str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=run_dir)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"benchmark child failed (exit {done.returncode}):\n{tail}")
    return json.loads(lines[-1][len("BENCH "):])


def run_child(zone: Path, work: Path, spec: dict, code: Path | None = None) -> dict:
    """One measured backfill in a fresh interpreter (its own lake, instance and landing index), after
    grid_topology in another fresh interpreter (reported as ``topology``)."""
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=work / "runs"))
    try:
        home = run_dir / "dagster_home"
        home.mkdir()
        template = next(p for p in ((code or REPO) / "dagster.local.yaml", (code or REPO) / "dagster.yaml") if p.exists())
        shutil.copy(template, home / "dagster.yaml")  # older checkouts kept the template as ./dagster.yaml
        topology = _child_process(run_dir, zone, {"mode": "topology"}, code)
        result = _child_process(run_dir, zone, spec, code)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    result["topology"] = topology
    return result


# -- the report ----------------------------------------------------------------------------------


def day_key(offset: int) -> str:
    return (START + dt.timedelta(days=offset)).isoformat()


def report_range(label: str, result: dict) -> None:
    rows = result["rows"]
    print(f"{label}: {result['seconds']:.1f} s, {rows:,} rows, {rows / result['seconds']:,.0f} rows/s, "
          f"peak RSS {result['peak_rss_mb']:,} MB (at the start of the run {result['rss_before_mb']:,} MB; "
          f"grid_topology before it, in its own process: {result['topology']['seconds']:.1f} s, "
          f"peak RSS {result['topology']['peak_rss_mb']:,} MB)")
    if "rows_valid" in result:  # sub-hourly rows are valid only where ingestion rolls them up to hours
        print(f"  validated_loads: {result['rows_valid']:,} rows valid, {result['rows_quarantined']:,} quarantined "
              f"{result.get('quarantined_by_rule', {})}")
    if result.get("failed"):
        raise SystemExit(f"{label} did not succeed: {', '.join(result['failed'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeders", type=int, default=1, help="feeders, each with its own source transformer")
    parser.add_argument("--junctions", type=int, default=40, help="junctions per feeder")
    parser.add_argument("--feeder-junctions", type=lambda s: tuple(int(x) for x in s.split(",")), default=None,
                        help="junctions of each feeder, e.g. 16,12,8,4 (overrides --junctions and --feeders)")
    parser.add_argument("--meters", type=int, default=2000, help="meters in the zone (replacements add 1 per 200)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv", help="landing file format")
    parser.add_argument("--interval-minutes", type=int, default=60, choices=(5, 10, 15, 20, 30, 60),
                        help="minutes per meter reading (default 60: hourly)")
    parser.add_argument("--generate-only", action="store_true", help="write (or find) the zone and stop")
    parser.add_argument("--growth-days", type=int, default=0, help="also back-fill the first N days (memory vs days)")
    parser.add_argument("--month-days", type=int, default=31, help="days run as one run per partition (0: skip)")
    parser.add_argument("--compare-code", type=Path, default=None, help="a checkout whose code to measure too")
    parser.add_argument("--compare-days", type=int, default=0, help="days of the --compare-code runs (default: all)")
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / ".work" / "backfill",
                        help="work dir: the zone cache and the runs")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if args.feeder_junctions:
        args.feeders = len(args.feeder_junctions)

    work = args.work.resolve()
    (work / "runs").mkdir(parents=True, exist_ok=True)
    zone, info = cached_zone(args, work)
    interval = info.get("interval_minutes", 60)  # zones cached before the option were hourly
    peak = f", peak RSS {info['generated_peak_rss_mb']:,} MB" if "generated_peak_rss_mb" in info else ""
    print(f"zone: {info['feeders']} feeder(s), {info['meters']:,} meters, {info['junctions']} junctions, {info['rows']:,} "
          f"{interval}-minute readings in {info['files']} {info['format']} landing files "
          f"({info['landing_bytes'] / 2**20:,.0f} MB; generated once in {info['generated_s']} s{peak}) under {zone}")
    if args.generate_only:
        return
    print(f"machine: {os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.1f}; the landing index starts cold")

    ranges = [args.days] + ([args.growth_days] if args.growth_days else [])
    runs = [("new", None, days) for days in ranges]
    if args.compare_code:
        compare = [args.compare_days] if args.compare_days else ranges
        runs += [("new", None, days) for days in compare if days not in ranges]
        runs += [("old", args.compare_code.resolve(), days) for days in compare]
    results: dict[tuple[str, int], dict] = {}
    for name, code, days in runs:
        spec = {"mode": "range", "first": day_key(0), "last": day_key(days - 1)}
        results[(name, days)] = run_child(zone, work, spec, code)
        report_range(f"[{name}] single-run backfill, {days} days of {interval}-minute readings", results[(name, days)])

    year = results[("new", args.days)]
    if args.growth_days:
        part = results[("new", args.growth_days)]
        grew = year["peak_rss_mb"] - part["peak_rss_mb"]
        print(f"memory vs days (new): peak RSS {part['peak_rss_mb']:,} MB for {args.growth_days} days, "
              f"{year['peak_rss_mb']:,} MB for {args.days} days ({grew:+,} MB for {args.days / args.growth_days:.1f}x the days)")
    for (name, days), old in results.items():
        if name == "old":
            new = results[("new", days)]
            print(f"old -> new, {days} days: {old['seconds']:.1f} s -> {new['seconds']:.1f} s "
                  f"({old['seconds'] / new['seconds']:.2f}x faster), peak RSS {old['peak_rss_mb']:,} -> {new['peak_rss_mb']:,} MB")

    if args.month_days:
        days = [day_key(i) for i in range(min(args.month_days, args.days))]
        month = run_child(zone, work, {"mode": "per_day", "days": days})
        per_day_runs, per_day_single = month["seconds"] / len(days), year["seconds"] / args.days
        print(f"per-partition runs, {len(days)} days: {month['seconds']:.1f} s ({per_day_runs:.2f} s/day); "
              f"per-day cost ratio (per-partition runs / single-run backfill): {per_day_runs / per_day_single:.1f}x")

    if info["meters"] >= 20_000 and args.days >= 365:
        ok_time, ok_rss = year["seconds"] <= TARGET_SECONDS, year["peak_rss_mb"] <= TARGET_RSS_MB
        print(f"target (issue 10, 20,000 meters x 365 days): <= {TARGET_SECONDS} s -> {'met' if ok_time else 'NOT met'} "
              f"({year['seconds']:.1f} s); <= {TARGET_RSS_MB:,} MB peak RSS -> {'met' if ok_rss else 'NOT met'} "
              f"({year['peak_rss_mb']:,} MB)")


if __name__ == "__main__":
    main()
