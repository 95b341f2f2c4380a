"""docker/grafana: every dashboard panel's SQL runs on a real PostgreSQL holding real materializations.

A demo zone's days are ingested and one day dispatched through the assets (local profile); the
tables they wrote are loaded into a scratch schema of the PostgreSQL on 127.0.0.1 through the
production table store. Each panel's query then runs there with Grafana's ``$__timeFilter``
macro expanded over those days: no query may fail, every panel has rows to show, time-series
panels have the shape Grafana needs (a ``time`` column, numeric values, an optional ``metric``
name column), and the data-quality panel's numbers are the lake's own counts.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import yaml
from psycopg import sql

from lascopf_assets.lib.zone.demo import DemoZoneParams
from lascopf_assets.storage.parquet_lake import ParquetLake
from lascopf_assets.storage.pg_tables import PgTableStore
from lascopf_assets.storage.results_schema import RESULTS_TABLES
from lascopf_assets_tests.local_zone import ingested_demo_zone

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "docker" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
DAYS = ["2023-01-01", "2023-01-02"]
INGESTION_TABLES = ["raw_measurements", "validated_loads", "quarantined_measurements", "junction_aggregates"]
WINDOW = ("2023-01-01T00:00:00Z", "2023-01-03T00:00:00Z")


def panels():
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            yield path.stem, board, panel


def sql_targets():
    for name, _board, panel in panels():
        for target in panel["targets"]:
            if target["datasource"]["type"] == "grafana-postgresql-datasource":
                yield pytest.param(panel, target, id=f"{name}:{panel['title']}")


def expand_macros(text: str) -> str:
    """Grafana's ``$__timeFilter(column)`` over the test's window; any other macro is a test failure."""
    out = re.sub(r"\$__timeFilter\(\s*(\w+)\s*\)",
                 lambda m: f"{m.group(1)} BETWEEN '{WINDOW[0]}'::timestamptz AND '{WINDOW[1]}'::timestamptz", text)
    assert "$" not in out, f"a macro or variable the test does not expand: {out}"
    return out


def test_dashboards_are_well_formed_and_use_the_provisioned_sources():
    assert {p.stem for p in DASHBOARDS} >= {"data_quality", "dispatch", "solvers", "phase_balancing"}
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "lascopf.yaml").read_text())["datasources"]
    uids = {s["uid"]: s["type"] for s in sources}
    boards = [json.loads(p.read_text()) for p in DASHBOARDS]
    assert len({b["uid"] for b in boards}) == len(boards)
    for name, board, panel in panels():
        assert panel["datasource"]["uid"] in uids, (name, panel["title"])
        assert uids[panel["datasource"]["uid"]] == panel["datasource"]["type"]
        assert panel["targets"] and all(t["datasource"] == panel["datasource"] for t in panel["targets"])
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        assert board["timezone"] == "utc"
    # the postgres source takes its settings from the environment, never a literal secret
    [pg] = [s for s in sources if s["type"] == "grafana-postgresql-datasource"]
    assert pg["secureJsonData"]["password"].startswith("${") and pg["url"].startswith("${")
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "lascopf.yaml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_compose_mounts_the_provisioning_and_gives_the_source_its_settings():
    compose = yaml.safe_load((ROOT / "docker" / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in grafana["volumes"] if m.startswith("./")}
    assert mounts == {"/etc/grafana/provisioning": "./grafana/provisioning", "/var/lib/grafana/dashboards": "./grafana/dashboards"}
    source_text = yaml.safe_dump(yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "lascopf.yaml").read_text()))
    wanted = set(re.findall(r"\$\{(\w+)\}", source_text))
    assert wanted <= set(grafana["environment"]), wanted - set(grafana["environment"])
    assert grafana["environment"]["LASCOPF_PG_HOST"] == "timescaledb"
    assert all(str(p).startswith("127.0.0.1:") for p in grafana["ports"])


@pytest.fixture(scope="module")
def results_schema(tmp_path_factory, pg_admin_dsn):
    """The tables of real materializations in a scratch schema; its name and the lake counts."""
    from lascopf_assets_tests import dev_servers

    data = tmp_path_factory.mktemp("grafana") / "data"
    params = DemoZoneParams(junctions=4, meters_per_junction=(3, 5), days=len(DAYS), glitches=6, seed=3)
    with dev_servers.scratch_database(pg_admin_dsn) as dsn, ingested_demo_zone(data, params, DAYS) as zone:
        assert zone.run(["powersystems_system", *[spec.name for spec in RESULTS_TABLES]], partition_key=DAYS[-1]).success
        for feeder in zone.instance.get_dynamic_partitions("feeders"):
            assert zone.run(["phase_assignment"], partition_key=feeder).success
        recommendations = zone.run(["phase_recommendations"])
        assert recommendations.success
        lake = ParquetLake.local(zone.data / "lake")
        schema = f"grafana_{uuid.uuid4().hex[:8]}"
        store = PgTableStore(dsn, schema=schema)
        frames = {}
        for name in [*INGESTION_TABLES, *[spec.name for spec in RESULTS_TABLES]]:
            for day in DAYS:
                try:
                    frame = lake.read([name], day)
                except FileNotFoundError:
                    continue  # the dispatch ran for the last day only
                start = pd.Timestamp(day, tz="UTC")
                store.write_window(name, frame, start, start + pd.Timedelta(days=1))
                frames.setdefault(name, []).append(frame)
        frame = recommendations.output_for_node("phase_recommendations")
        store.write_all("phase_recommendations", frame)  # what the table IO manager does with it in production
        frames["phase_recommendations"] = [frame]
        store.close()
        yield dsn, schema, {name: pd.concat(parts, ignore_index=True) for name, parts in frames.items()}


def run_panel(dsn: str, schema: str, text: str) -> pd.DataFrame:
    with psycopg.connect(dsn) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        cur = conn.execute(expand_macros(text))
        return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


@pytest.mark.parametrize("panel,target", list(sql_targets()))
def test_every_panel_query_runs_and_has_rows_of_the_right_shape(results_schema, panel, target):
    dsn, schema, frames = results_schema
    rows = run_panel(dsn, schema, target["rawSql"])
    if panel["title"] == "Points not certified optimal":  # empty exactly when every curve point is certified
        points = frames["phase_recommendations"]
        assert len(rows) == ((points["status"] != "optimal") | (points["gap"] > 1e-4)).sum()
        return
    assert len(rows) > 0, f"{panel['title']}: no rows over real materializations"
    if target["format"] == "time_series":
        assert rows.columns[0] == "time" and rows["time"].notna().all()
        values = [c for c in rows.columns[1:] if c != "metric"]
        assert values and all(pd.api.types.is_numeric_dtype(pd.to_numeric(rows[c], errors="raise")) for c in values)
        if "metric" in rows.columns:
            assert rows["metric"].map(type).eq(str).all()


def test_the_readings_panel_counts_what_the_lake_holds(results_schema):
    dsn, schema, frames = results_schema
    [target] = [t for _, _, p in panels() if p["title"] == "Readings per day" for t in p["targets"]]
    rows = run_panel(dsn, schema, target["rawSql"]).set_index("time")
    day = lambda frame: frame["timestamp"].dt.floor("D")  # noqa: E731
    raw, valid, quarantined = frames["raw_measurements"], frames["validated_loads"], frames["quarantined_measurements"]
    assert len(rows) == len(DAYS)
    for ts, row in rows.iterrows():
        stamp = pd.Timestamp(ts).tz_convert("UTC")
        assert row["readings_in"] == (day(raw) == stamp).sum()
        assert row["readings_valid"] == valid.loc[day(valid) == stamp, "intervals"].sum()
        assert row["quarantined"] == (day(quarantined) == stamp).sum()
    assert rows["quarantined"].sum() > 0  # the glitches are there to be counted
