"""``lascopf demo``: generate the demo zone and materialize every asset on the local profile.

The zone is the synthetic one (``lib.zone``) plus, where the published data is beside the project
(``../shared/data/ieee_european_lv``), the IEEE European LV test feeder as one more feeder
(``lv-tr1``: its OpenDSS circuit added to the zone's topology with the ``lv-`` prefix, its 1,440
one-minute load-shape readings as landing files of the first demo day, its model registered), so
``phase_change_impact`` runs the physics check on a real circuit. Without the data the demo says the
LV feeder is skipped and why, and runs the synthetic feeders alone.

Order: unpartitioned roots (grid_topology, which also registers the feeder
partitions), then every daily asset of the ingestion group over the demo's whole
range as one single-run backfill, then phase_assignment for every feeder (one
run per feeder partition) and feeder_ranking, then the daily transmission assets
for one day. Prints a short summary, the per-feeder table and the report paths.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path

from lascopf_assets.cli import CliError

DEMO_DAYS = 365
DEMO_START = dt.date(2023, 1, 1)
DEMO_FEEDERS = 4
DEMO_CURVE_MAX = 5
PROJECT_ROOT = Path(__file__).resolve().parents[2]
LV_MASTER = PROJECT_ROOT.parent / "shared" / "data" / "ieee_european_lv" / "Master.dss"
LV_PREFIX = "lv-"  # the LV circuit's element ids and nodes in the zone (its transformer tr1 is feeder lv-tr1)
LV_FEEDER = f"{LV_PREFIX}tr1"


def varied_feeder_sizes(junctions: int, feeders: int) -> tuple[int, ...]:
    """Junctions per feeder, spread evenly from half to one and a half times ``junctions`` (at least 1 each)."""
    if feeders == 1:
        return (junctions,)
    return tuple(max(1, round(junctions * (0.5 + f / (feeders - 1)))) for f in range(feeders))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="generate the demo zone and materialize every asset (local profile)")
    parser.add_argument("--days", type=int, default=DEMO_DAYS, help="days of demo data (default: calendar 2023)")
    parser.add_argument("--feeders", type=int, default=DEMO_FEEDERS, help=f"feeders (default {DEMO_FEEDERS})")
    parser.add_argument("--junctions", type=int, default=10,
                        help="junctions per feeder on average; feeder sizes spread from 0.5x to 1.5x (default 10)")
    parser.add_argument("--glitches", type=int, default=12, help="bad lines appended to the landing files (each must be quarantined)")
    parser.add_argument("--interval-minutes", type=int, default=60,
                        help="meter reading interval of a newly generated zone (5, 10, 15, 20, 30 or 60; default 60)")
    parser.add_argument("--dispatch-day", default=None, help="day for the transmission assets (default: the last demo day)")
    parser.add_argument("--phase-time-limit", type=float, default=20.0,
                        help="seconds per feeder for phase balancing, K and the trade-off curve together (default 20)")
    parser.add_argument("--curve-max", type=int, default=DEMO_CURVE_MAX,
                        help=f"trade-off curve K = 0..N per feeder (default {DEMO_CURVE_MAX}, the demo's K: points past it "
                             "are not certified within the demo's time on these feeders; 10 adds them with their gaps)")
    parser.add_argument("--lv-feeder", default=str(LV_MASTER), metavar="MASTER.dss",
                        help="the IEEE European LV feeder's OpenDSS master, added to the zone as feeder "
                             f"{LV_FEEDER} for the physics check (default: ../shared/data/ieee_european_lv/Master.dss "
                             "beside the project; skipped with a message when absent)")
    parser.add_argument("--no-lv-feeder", action="store_true", help="leave the European LV feeder out of the zone")
    parser.set_defaults(func=run)


def _ensure_demo_zone(data_dir: Path, days: int, feeder_sizes: tuple[int, ...], glitches: int, interval_minutes: int = 60) -> None:
    from lascopf_assets.lib.zone.demo import DemoZoneParams, write_demo_zone

    marker = data_dir / "landing" / f"meter_readings_{DEMO_START.isoformat()}.csv"
    if marker.exists() and (data_dir / "topology").is_dir():
        print(f"demo zone already in {data_dir} (delete the folder to regenerate)")
        return
    started = time.perf_counter()
    try:
        params = DemoZoneParams(feeders=len(feeder_sizes), feeder_junctions=feeder_sizes, days=days, start=DEMO_START,
                                glitches=glitches, interval_minutes=interval_minutes)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    summary = write_demo_zone(data_dir, params)
    print(
        f"generated demo zone: {len(feeder_sizes)} feeders, {summary.junctions} junctions "
        f"({', '.join(map(str, feeder_sizes))} per feeder), {summary.meters} meters, "
        f"{summary.rows:,} readings in {summary.files} daily files, {len(summary.glitches)} bad lines "
        f"({time.perf_counter() - started:.1f} s)"
    )


def _ensure_lv_feeder(data_dir: Path, master: Path | None, day: dt.date) -> str | None:
    """Add the European LV feeder to the demo zone (readings on ``day``); its feeder name, or None when skipped (said why).

    Skipped, a feeder added by an earlier run is taken out again, so the zone never names a model that is not there.
    """
    from lascopf_assets.lib.opendss.engine import CircuitError
    from lascopf_assets.lib.opendss.feeder_import import add_to_zone, remove_from_zone
    from lascopf_assets.lib.zone.topology import TopologyError

    if master is None or not master.is_file():
        why = "--no-lv-feeder" if master is None else (
            f"{master} is absent (the published IEEE European LV test feeder is expected in "
            "../shared/data/ieee_european_lv beside the project; --lv-feeder MASTER.dss names another place)")
        removed = remove_from_zone(data_dir, LV_FEEDER)
        print(f"European LV feeder skipped: {why}. No demo feeder has an OpenDSS model to check"
              + (f" ({LV_FEEDER}, added by an earlier run, is taken out of {data_dir})" if removed else ""))
        return None
    started = time.perf_counter()
    try:
        added = add_to_zone(master, data_dir, day, LV_PREFIX)
    except (CircuitError, TopologyError, ValueError) as exc:
        raise CliError(f"cannot add the European LV feeder {master} to the demo zone: {exc}") from exc
    s = added.summary
    print(f"added the IEEE European LV feeder as feeder {s['feeder']}: {s['junctions']} junctions, "
          f"{s['meters_with_readings']} meters, {added.readings:,} readings of {s['interval_minutes']:g} min on {day} "
          f"(peak {s['peak_kw']:.1f} kW), OpenDSS model {master} ({time.perf_counter() - started:.1f} s)")
    return str(s["feeder"])


def _feeder_table(ranking, changes_by_feeder: dict[str, list[str]]) -> list[str]:
    """The per-feeder outcome, best imbalance removed per change first, then each feeder's moves."""
    lines = [f"  {'rank':>4}  {'feeder':<8} {'junctions':>9}  {'status':<10} {'before':>10} {'after':>10} "
             f"{'gap':>8} {'changes':>7} {'per change':>10}"]
    for row in ranking.itertuples(index=False):
        per = "-" if row.changes == 0 else f"{row.removed_per_change:,.1f}"
        lines.append(f"  {row.rank:>4}  {row.feeder:<8} {row.junctions:>9}  {row.status:<10} {row.initial_imbalance:>10,.1f} "
                     f"{row.imbalance:>10,.1f} {row.gap:>8.1e} {row.changes:>7} {per:>10}")
    for feeder in ranking["feeder"]:
        moves = changes_by_feeder.get(feeder) or ["no change"]
        lines.append(f"  {feeder}: " + "; ".join(moves))
    return lines


def _curve_line(curve_max: int, certified: dict[str, tuple[int, int]]) -> str:
    """Where the trade-off curve stops and how much of it is proven (per feeder: certified of points)."""
    done = sum(c for c, _ in certified.values())
    total = sum(n for _, n in certified.values())
    line = f"  trade-off curve K = 0..{curve_max} per feeder: {done} of {total} points certified optimal"
    short = [f"{f} {c}/{n}" for f, (c, n) in sorted(certified.items()) if c < n]
    if short:
        line += f" (not certified within the time limit: {', '.join(short)}; see each report's gaps)"
    if curve_max < 10:
        line += f"; --curve-max 10 adds K = {curve_max + 1}..10 with their proven gaps (slower)"
    return line


def _require_partitions(first: str, last: str) -> None:
    """The demo's days must be daily partitions (``make demo`` sets the window to the demo year)."""
    from lascopf_assets.defs.partitions import FIRST_DAY_VAR, LAST_DAY_VAR, partition_window

    start, end = partition_window()
    if first < start.isoformat() or (end is not None and last > end.isoformat()):
        raise CliError(
            f"the demo's days {first} .. {last} are not all daily partitions ({start} .. {end or 'today'}); "
            f"set {FIRST_DAY_VAR} / {LAST_DAY_VAR} to cover them ({LAST_DAY_VAR}= for open-ended)"
        )


def _metadata(result, asset: str) -> dict:
    merged: dict = {}
    for event in result.get_asset_materialization_events():
        if event.materialization.asset_key.to_user_string() == asset:
            merged = {k: v.value for k, v in event.materialization.metadata.items()}
    return merged


def run(args: argparse.Namespace) -> int:
    if args.days < 1:
        raise CliError("--days must be at least 1")
    if args.feeders < 1 or args.junctions < 1:
        raise CliError("--feeders and --junctions must be at least 1")
    os.environ.setdefault("LASCOPF_PROFILE", "local")
    import warnings

    import dagster as dg

    # the demo's reader wants the outcome; Dagster's notes on beta parameters we chose on purpose
    # (backfill_policy, data_version) are for the developer, who sees them in `make dev` and the tests
    warnings.filterwarnings("ignore", category=dg.BetaWarning)

    from lascopf_assets.definitions import defs
    from lascopf_assets.defs.resources import local_data_dir

    if not os.environ.get("DAGSTER_HOME"):
        raise CliError("DAGSTER_HOME is not set: run `make demo`, which points it at .dagster_home/")
    data_dir = local_data_dir()
    _ensure_demo_zone(data_dir, args.days, varied_feeder_sizes(args.junctions, args.feeders), args.glitches, args.interval_minutes)

    definitions = defs()
    graph = definitions.resolve_asset_graph()
    instance = dg.DagsterInstance.get()
    assets = list(definitions.assets or [])
    first = DEMO_START.isoformat()
    last = (DEMO_START + dt.timedelta(days=args.days - 1)).isoformat()
    _require_partitions(first, last)
    dispatch_day = args.dispatch_day or last
    # the LV feeder's one day of shapes is the demo's first day: inside the partitions, not the dispatch day
    lv_feeder = _ensure_lv_feeder(data_dir, None if args.no_lv_feeder else Path(args.lv_feeder), DEMO_START)

    def keys_in_group(group: str) -> list[str]:
        return sorted(
            k.to_user_string() for k in graph.get_all_asset_keys()
            if graph.get(k).group_name == group and graph.get(k).is_materializable
        )

    def materialize(selection: list[str], ops: dict | None = None, **kwargs):
        started = time.perf_counter()
        run_config = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}, "ops": ops or {}}
        result = dg.materialize(
            assets, selection=selection, resources=definitions.resources, instance=instance,
            run_config=run_config, **kwargs,
        )
        part = f" [{kwargs['partition_key']}]" if kwargs.get("partition_key") else ""
        print(f"materialized {', '.join(selection)}{part} in {time.perf_counter() - started:.1f} s")
        return result

    ingestion = keys_in_group("ingestion")
    roots = [k for k in ingestion if not graph.get(dg.AssetKey.from_user_string(k)).is_partitioned]
    daily = [k for k in ingestion if k not in roots]
    materialize(roots)
    data = materialize(daily, tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last})

    raw = _metadata(data, "raw_measurements")
    validated = _metadata(data, "validated_loads")
    aggregates = _metadata(data, "junction_aggregates")
    print("\nsummary")
    print(f"  days                {first} .. {last}")
    print(f"  rows ingested       {raw.get('rows_ingested', 0):,}")
    print(f"  rows valid          {validated.get('rows_valid', 0):,}  in {validated.get('hours_valid', 0):,} meter-hours")
    print(f"  rows quarantined    {validated.get('rows_quarantined', 0):,}  by rule: {validated.get('quarantined_by_rule', {})}")
    print(f"  rows re-delivered   {validated.get('rows_redelivered', 0):,}")
    print(f"  files rejected      {raw.get('rejected_files', 0)}")
    print(f"  junctions           {aggregates.get('junctions', 0)}")
    if lv_feeder:
        print(f"  real feeder         {lv_feeder} (IEEE European LV, OpenDSS), readings on {first}")

    reports: list[str] = []
    feeders = sorted(instance.get_dynamic_partitions("feeders"))
    phase_ops = {"phase_assignment": {"config": {"time_limit_seconds": args.phase_time_limit,
                                                 "curve_max_changes": args.curve_max}}}
    changes_by_feeder: dict[str, list[str]] = {}
    windows = set()
    certified = {}
    physics_lines: list[str] = []
    unchecked: list[str] = []
    for feeder in feeders:
        meta = _metadata(materialize(["phase_assignment"], ops=phase_ops, partition_key=feeder), "phase_assignment")
        windows.add(meta.get("window", ""))
        certified[feeder] = (meta.get("curve_points_certified", 0), meta.get("curve_points", 0))
        impact = _metadata(materialize(["phase_change_impact"], partition_key=feeder), "phase_change_impact")
        if impact.get("checked"):
            physics_lines.extend(impact.get("summary_lines", []))
        else:
            unchecked.append(feeder)
        lines = meta.get("summary_lines", [])
        changes_by_feeder[feeder] = [line.strip()[len("move "):] for line in lines if line.strip().startswith("move ")]
        if meta.get("report_path"):
            reports.append(str(meta["report_path"]))
    if feeders:
        from lascopf_assets.defs.phase_balancing.assets import PhaseBalancingConfig

        ranking = materialize(["feeder_ranking", "phase_recommendations"]).output_for_node("feeder_ranking")
        print(f"\nphase balancing per feeder (K = {PhaseBalancingConfig().max_changes} each, {', '.join(sorted(windows))}), "
              "ranked by imbalance removed per change")
        for line in _feeder_table(ranking, changes_by_feeder):
            print(line)
        print(_curve_line(args.curve_max, certified))
        for line in physics_lines:
            print(f"  {line}")
        if unchecked:
            print(f"  physics check: no OpenDSS model for {', '.join(unchecked)} (synthetic feeders; "
                  "`lascopf feeder-import` registers a real circuit's model)")
    selection = keys_in_group("transmission")
    if selection:
        result = materialize(selection, partition_key=dispatch_day)
        for key in selection:
            meta = _metadata(result, key)
            for line in meta.get("summary_lines", []):
                print(f"  {line}")
            if meta.get("report_path"):
                reports.append(str(meta["report_path"]))
    for path in reports:
        print(f"report: {path}")
    if not reports:
        print(f"data lake: {data_dir / 'lake'}")
    return 0
