"""Files of a demo zone: ``topology/grid_topology.csv`` and one landing file of readings per day.

A day's rows (hourly or, with ``params.interval_minutes < 60``, its intervals) are built and
written one day at a time, so a year of 15-minute readings never sits in memory at once.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lascopf_assets.lib.zone.loads import HourlyLoads
from lascopf_assets.lib.zone.params import DemoZoneParams
from lascopf_assets.lib.zone.readings import IntervalSplit, csv_readings, typed_readings
from lascopf_assets.lib.zone.structure import GridStructure

FORMATS = ("csv", "parquet")
_CSV_OPTIONS = pacsv.WriteOptions(quoting_style="none", quoting_header="none", batch_size=65536)


def write_topology(topology: pd.DataFrame, path: Path) -> None:
    """The topology rows as CSV (header, ``\\n`` line ends, empty string for no terminal)."""
    topology.to_csv(path, index=False, lineterminator="\n")


def write_daily_readings(
    landing: Path, params: DemoZoneParams, structure: GridStructure, hourly: HourlyLoads, fmt: str
) -> tuple[list[Path], int]:
    """``landing/meter_readings_YYYY-MM-DD.{fmt}``, one per day; returns the paths and the rows written."""
    paths: list[Path] = []
    rows = 0
    split = IntervalSplit.of_zone(params)  # None: hourly, the files as they have always been written
    for day_number in range(params.days):  # one file per day
        day = params.start + dt.timedelta(days=day_number)
        first, stop = day_number * 24, (day_number + 1) * 24
        path = landing / f"meter_readings_{day.isoformat()}.{fmt}"
        if fmt == "csv":
            table = csv_readings(structure, hourly, first, stop, split)
            pacsv.write_csv(table, path, write_options=_CSV_OPTIONS)
        else:
            table = typed_readings(structure, hourly, first, stop, split)
            pq.write_table(table, path)
        rows += table.num_rows
        paths.append(path)
    return paths, rows
