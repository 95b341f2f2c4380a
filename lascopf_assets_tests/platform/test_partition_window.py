"""The daily partitions' window from LASCOPF_FIRST_DAY / LASCOPF_LAST_DAY, and the demo's days agreeing with it."""

import datetime as dt
import re
from pathlib import Path

import pytest

from lascopf_assets.cli import CliError
from lascopf_assets.cli.demo import DEMO_DAYS, DEMO_START, _require_partitions
from lascopf_assets.defs.partitions import PartitionWindowError, daily_partitions_definition

ROOT = Path(__file__).resolve().parents[2]


def test_default_window_starts_in_2023_and_stays_open(monkeypatch):
    monkeypatch.delenv("LASCOPF_FIRST_DAY", raising=False)
    monkeypatch.delenv("LASCOPF_LAST_DAY", raising=False)
    parts = daily_partitions_definition()
    assert parts.get_first_partition_key() == "2023-01-01"
    assert parts.end is None
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    assert parts.get_last_partition_key() == yesterday


def test_the_demo_window_is_exactly_the_demo_year(monkeypatch):
    monkeypatch.setenv("LASCOPF_LAST_DAY", "2023-12-31")
    parts = daily_partitions_definition()
    keys = parts.get_partition_keys()
    assert (len(keys), keys[0], keys[-1]) == (365, "2023-01-01", "2023-12-31")
    assert parts.has_partition_key("2023-12-31") and not parts.has_partition_key("2024-01-01")


def test_an_empty_last_day_is_open_ended_and_a_first_day_moves_the_start(monkeypatch):
    monkeypatch.setenv("LASCOPF_LAST_DAY", "")
    monkeypatch.setenv("LASCOPF_FIRST_DAY", "2019-01-01")
    parts = daily_partitions_definition()
    assert parts.get_first_partition_key() == "2019-01-01" and parts.end is None


@pytest.mark.parametrize("first,last,said", [
    ("2023-13-01", "", "LASCOPF_FIRST_DAY='2023-13-01' is not a day"),
    ("2023-01-01", "soon", "LASCOPF_LAST_DAY='soon' is not a day"),
    ("2023-06-01", "2023-05-31", "LASCOPF_LAST_DAY=2023-05-31 is before LASCOPF_FIRST_DAY=2023-06-01"),
])
def test_a_window_that_is_not_one_says_which_variable(monkeypatch, first, last, said):
    monkeypatch.setenv("LASCOPF_FIRST_DAY", first)
    monkeypatch.setenv("LASCOPF_LAST_DAY", last)
    with pytest.raises(PartitionWindowError, match=re.escape(said)):
        daily_partitions_definition()


def test_make_demo_and_make_dev_end_the_partitions_on_the_demo_years_last_day():
    makefile = (ROOT / "Makefile").read_text()
    [last] = re.findall(r"^DEMO_LAST_DAY := (\S+)$", makefile, flags=re.M)
    assert last == (DEMO_START + dt.timedelta(days=DEMO_DAYS - 1)).isoformat()
    assert re.search(r"^demo dev: export LASCOPF_LAST_DAY \?= \$\(DEMO_LAST_DAY\)$", makefile, flags=re.M)


def test_the_demo_refuses_days_its_partitions_do_not_have(monkeypatch):
    monkeypatch.setenv("LASCOPF_LAST_DAY", "2023-12-31")
    monkeypatch.delenv("LASCOPF_FIRST_DAY", raising=False)
    _require_partitions("2023-01-01", "2023-12-31")
    with pytest.raises(CliError, match=r"2023-01-01 \.\. 2024-01-01 are not all daily partitions .*LASCOPF_LAST_DAY"):
        _require_partitions("2023-01-01", "2024-01-01")


def test_every_deployment_gives_its_processes_the_same_window():
    import yaml

    from lascopf_assets.defs.partitions import DEFAULT_FIRST_DAY

    compose = (ROOT / "docker" / "docker-compose.yml").read_text()
    assert f"LASCOPF_FIRST_DAY: ${{LASCOPF_FIRST_DAY:-{DEFAULT_FIRST_DAY}}}" in compose
    assert "LASCOPF_LAST_DAY: ${LASCOPF_LAST_DAY:-}" in compose
    data_env = yaml.safe_load(compose)["x-data-env"]
    assert {"LASCOPF_FIRST_DAY", "LASCOPF_LAST_DAY"} <= set(data_env)  # user code and the Celery workers
    configmap = yaml.safe_load((ROOT / "docker" / "k8s" / "configmap.yaml").read_text())["data"]
    assert (configmap["LASCOPF_FIRST_DAY"], configmap["LASCOPF_LAST_DAY"]) == (DEFAULT_FIRST_DAY, "")
    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                   if line.strip() and not line.startswith("#"))
    assert (example["LASCOPF_FIRST_DAY"], example["LASCOPF_LAST_DAY"]) == (DEFAULT_FIRST_DAY, "")
