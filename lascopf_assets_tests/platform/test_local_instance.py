"""The local profile's Dagster instance (dagster.local.yaml, copied to $DAGSTER_HOME): pooled SQLite storages that persist."""

import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage

from lascopf_assets.instance import sqlite_storage
from lascopf_assets.instance.sqlite_storage import PooledSqliteEventLogStorage, PooledSqliteRunStorage

ROOT = Path(__file__).resolve().parents[2]


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2023-01-01", timezone="UTC"),
          backfill_policy=dg.BackfillPolicy.single_run())
def tiny(context: dg.AssetExecutionContext) -> None:
    context.log.info(f"{len(context.partition_keys)} days")


@pytest.fixture
def home(tmp_path, monkeypatch):
    shutil.copy(ROOT / "dagster.local.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    return tmp_path


def test_instance_from_project_yaml_records_and_reopens(home):
    instance = dg.DagsterInstance.get()
    assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
    assert isinstance(instance.run_storage, PooledSqliteRunStorage)
    result = dg.materialize([tiny], instance=instance, tags={
        "dagster/asset_partition_range_start": "2023-01-01", "dagster/asset_partition_range_end": "2023-01-10"})
    assert result.success
    instance.dispose()
    # a new instance on the same home (another process would do the same) sees the run and every partition
    again = dg.DagsterInstance.get()
    assert [r.run_id for r in again.get_runs()] == [result.run_id]
    materialized = again.get_materialized_partitions(dg.AssetKey("tiny"))
    assert materialized == {f"2023-01-{d:02d}" for d in range(1, 11)}
    assert (home / "history" / "runs" / "index.db").exists() and (home / "history" / "runs.db").exists()


def test_the_ui_opens_without_the_community_modal(home):
    # Dagster's UI asks `shouldShowNux` (nux_enabled and no .nux/nux.yaml yet) before it covers the page
    assert dg.DagsterInstance.get().nux_enabled is False


def test_connections_use_wal_with_synchronous_normal(home):
    instance = dg.DagsterInstance.get()
    with instance.event_log_storage.index_connection() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    with instance.run_storage.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1


def test_missing_dagster_home_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with pytest.raises(ValueError, match="DAGSTER_HOME is not set"):
        PooledSqliteEventLogStorage.from_config_value(None, {})


def test_the_private_dagster_surface_the_pooled_storages_replace_is_still_there():
    problems = sqlite_storage.private_surface_problems()
    assert not problems, (
        f"dagster {dg.__version__} changed what lascopf_assets/instance/sqlite_storage.py relies on: {problems}. "
        "Adapt that module to the new private surface (or run with LASCOPF_SQLITE_STORAGE=stock meanwhile)."
    )


def test_stock_switch_gives_dagsters_own_storages(home, monkeypatch):
    monkeypatch.setenv("LASCOPF_SQLITE_STORAGE", "stock")
    instance = dg.DagsterInstance.get()
    assert type(instance.event_log_storage) is SqliteEventLogStorage
    assert type(instance.run_storage) is SqliteRunStorage
    assert dg.materialize([tiny], instance=instance, partition_key="2023-01-01").success
    instance.dispose()


def test_a_changed_private_surface_refuses_to_start_and_says_what_to_do(home, monkeypatch):
    monkeypatch.setattr(sqlite_storage, "private_surface_problems", lambda: ["SqliteRunStorage.connect() is gone or changed"])
    with pytest.raises(Exception, match="LASCOPF_SQLITE_STORAGE=stock"):
        dg.DagsterInstance.get()
    monkeypatch.setenv("LASCOPF_SQLITE_STORAGE", "stock")  # the way out the message names works
    dg.DagsterInstance.get().dispose()


def test_a_bad_switch_value_is_named(home, monkeypatch):
    monkeypatch.setenv("LASCOPF_SQLITE_STORAGE", "fast")
    with pytest.raises(Exception, match="LASCOPF_SQLITE_STORAGE='fast'"):
        dg.DagsterInstance.get()


def test_one_code_location_name_and_no_stray_instance_yaml():
    """`make dev` logs neither "code location name ... does not match" nor "./dagster.yaml ... will not be used":
    the workspaces and dg's project config name the location alike, and the instance template is not named
    dagster.yaml at the root (Dagster warns about one there when DAGSTER_HOME points elsewhere)."""
    import tomllib

    import yaml

    def location(path: Path) -> str:
        [entry] = yaml.safe_load(path.read_text())["load_from"]
        return next(iter(entry.values()))["location_name"]

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    assert location(ROOT / "workspace.yaml") == location(ROOT / "docker" / "workspace.yaml") == project["code_location_name"]
    assert not (ROOT / "dagster.yaml").exists() and (ROOT / "dagster.local.yaml").exists()
