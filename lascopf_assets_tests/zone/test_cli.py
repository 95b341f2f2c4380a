"""``lascopf demo-data`` subcommand, driven through its own argparse registration."""

from __future__ import annotations

import argparse

import pyarrow.parquet as pq
import pytest

from lascopf_assets.cli import CliError, demo_data, main
from lascopf_assets.lib.zone.topology import read_topology


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="lascopf")
    demo_data.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["demo-data", *argv])
    return args.func(args)


def test_writes_zone_and_prints_summary(tmp_path, capsys):
    out = tmp_path / "zone"
    assert run([str(out), "--junctions", "4", "--meters", "30", "--days", "2", "--start", "2023-06-30"]) == 0
    files = sorted(p.name for p in (out / "landing").iterdir())
    assert files == ["meter_readings_2023-06-30.csv", "meter_readings_2023-07-01.csv"]
    assert (out / "topology" / "grid_topology.csv").is_file()
    printed = capsys.readouterr().out
    assert "4 junctions" in printed and "2 days 2023-06-30 .. 2023-07-01" in printed


def test_parquet_format_and_seed(tmp_path):
    assert run([str(tmp_path / "a"), "--junctions", "3", "--days", "1", "--format", "parquet", "--seed", "1"]) == 0
    assert run([str(tmp_path / "b"), "--junctions", "3", "--days", "1", "--format", "parquet", "--seed", "2"]) == 0
    a = pq.read_table(tmp_path / "a" / "landing" / "meter_readings_2023-01-01.parquet")
    b = pq.read_table(tmp_path / "b" / "landing" / "meter_readings_2023-01-01.parquet")
    assert a.column_names == ["meter_id", "timestamp", "kwh"]
    assert not a.equals(b)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--start", "2023-02-30"], "--start '2023-02-30' is not a date like 2023-01-01"),
        (["--junctions", "0"], "junctions must be >= 1, got 0"),
        (["--junctions", "10", "--meters", "3"], "total_meters (3) must be >= junctions (10)"),
        (["--days", "0"], "days must be >= 1, got 0"),
        (["--feeders", "0"], "feeders must be an integer >= 1, got 0"),
        (
            ["--feeder-junctions", "16,x"],
            "--feeder-junctions '16,x' is not a comma-separated list of junction counts like 16,12,8,4",
        ),
        (["--feeders", "3", "--feeder-junctions", "4,2"], "feeder_junctions needs one value per feeder (3), got 2: (4, 2)"),
        (["--feeder-junctions", "4,0"], "feeder_junctions must all be integers >= 1, got (4, 0)"),
        (
            ["--feeders", "2", "--junctions", "5", "--meters", "8"],
            "total_meters (8) must be >= junctions (10 over 2 feeders)",
        ),
    ],
)
def test_user_errors_raise_cli_error(tmp_path, argv, message):
    with pytest.raises(CliError) as info:
        run([str(tmp_path / "z"), *argv])
    assert str(info.value) == message
    assert not (tmp_path / "z").exists()


def test_unwritable_out_dir_is_a_cli_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(CliError, match="cannot write to"):
        run([str(blocker / "zone"), "--days", "1", "--junctions", "2"])


def test_feeders_multiply_junctions_per_feeder_and_are_listed(tmp_path, capsys):
    out = tmp_path / "zone"
    assert run([str(out), "--feeders", "3", "--junctions", "4", "--days", "1"]) == 0
    topology = read_topology(out / "topology" / "grid_topology.csv")
    assert len(topology.source_cns) == 3
    printed = capsys.readouterr().out
    assert "12 junctions" in printed and "3 feeders" in printed
    for feeder in ("TR1", "TR2", "TR3"):
        assert f"{feeder}: 4 junctions" in printed


def test_feeder_junctions_set_each_feeder_and_imply_the_feeder_count(tmp_path, capsys):
    assert run([str(tmp_path / "zone"), "--feeder-junctions", "6,3,2,1", "--days", "1"]) == 0
    printed = capsys.readouterr().out
    assert "12 junctions" in printed and "4 feeders" in printed
    assert all(f"TR{f}: {n} junctions" in printed for f, n in zip(range(1, 5), (6, 3, 2, 1)))


def test_bad_feeders_exit_2_with_the_message(tmp_path, capsys):
    assert main(["demo-data", str(tmp_path / "z"), "--feeders", "-1"]) == 2
    # The last line: importing the other subcommands may warn on stderr first.
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert last_line == "lascopf demo-data: error: feeders must be an integer >= 1, got -1"
    assert not (tmp_path / "z").exists()
