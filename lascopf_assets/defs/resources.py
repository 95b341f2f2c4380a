"""Resource construction: the only code that branches on the profile."""


import hashlib
import os
from pathlib import Path

import dagster as dg
import pandas as pd

from lascopf_assets.defs.profile import PROJECT_ROOT, current_profile
from lascopf_assets.defs.storage.from_env import (
    postgres_io_manager_from_env,
    s3_lake_io_manager_from_env,
    s3_landing_from_env,
)
from lascopf_assets.defs.storage.lake_io_managers import ParquetLakeIOManager
from lascopf_assets.defs.storage.resources import S3LandingBucket
from lascopf_assets.lib.ingest.landing import LandingFile, scan_landing
from lascopf_assets.lib.ingest.landing_index import LandingIndex
from lascopf_assets.lib.ingest.landing_runs import LandingCursorStore
from lascopf_assets.lib.ingest.rejections import FileRejection, RejectionLedger, current_rejections, refused_in_folder
from lascopf_assets.storage.s3_landing import S3LandingCache

DATA_DIR_ENV = "LASCOPF_DATA_DIR"
# each local folder's own override of its place under the data dir
PATH_ENV = {
    "landing": "LASCOPF_LANDING_DIR",
    "topology": "LASCOPF_TOPOLOGY_DIR",
    "state": "LASCOPF_STATE_DIR",
    "lake": "LASCOPF_LAKE_DIR",
    "exports": "LASCOPF_EXPORTS_DIR",
}


class LandingZone(dg.ConfigurableResource):
    """Where landing files and topology files arrive, and where ingestion keeps its state."""

    landing_dir: str
    topology_dir: str
    state_dir: str

    def scan(self) -> tuple[list[LandingFile], list[tuple[str, str]]]:
        return scan_landing(self.landing_dir)

    def landing_index(self) -> LandingIndex:
        return LandingIndex(Path(self.state_dir) / "landing_index.json")

    def landing_cursor_store(self) -> LandingCursorStore:
        return LandingCursorStore(Path(self.state_dir) / "landing_sensor")

    def rejection_ledger(self) -> RejectionLedger:
        return RejectionLedger(Path(self.state_dir) / "landing_rejections.json")

    def refusals(self, refused: list) -> list[FileRejection]:
        """``scan()``'s refused entries as rejections."""
        return refused_in_folder(refused, self.landing_dir)

    def location(self) -> str:
        """Where landing files arrive, as an operator names it."""
        return self.landing_dir

    def record_rejections(
        self, indexed: list, refused: list, now: pd.Timestamp
    ) -> tuple[list[FileRejection], list[FileRejection]]:
        """Every rejected landing file now (``indexed``: the index's view of the accepted files, ``refused``:
        ``scan()``'s), and those seen for the first time (see ``lib.ingest.rejections``)."""
        return self.rejection_ledger().record(current_rejections(indexed, self.refusals(refused)), now)

    def prepare(self, days: set[str]) -> None:
        """Make the landing files of ``days`` available in ``landing_dir`` (already there locally)."""

    def topology_files(self) -> list[Path]:
        folder = Path(self.topology_dir)
        return sorted(p for p in folder.glob("*.csv") if p.is_file()) if folder.is_dir() else []

    def topology_fingerprint(self, feeder_heads: list[str]) -> str:
        """What ``grid_topology`` is built from: each topology file's name, size and mtime, and the feeder heads."""
        digest = hashlib.sha256()
        for path in self.topology_files():
            st = path.stat()
            digest.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        digest.update(("heads:" + ",".join(feeder_heads)).encode())
        return digest.hexdigest()[:20]


class S3LandingZone(LandingZone):
    """Landing files in an S3 bucket (``<prefix>/<YYYY-MM-DD>/<file>``), read through a local cache.

    ``prepare`` copies the requested days' objects into ``landing_dir`` (``storage.s3_landing.S3LandingCache``),
    so reading, validation and rejections are the same code as for a local folder; ``scan`` gives the copies
    shown as ``bucket/key`` (their provenance) and the refused keys recorded when their days were listed.
    """

    s3_landing: S3LandingBucket

    def cache(self) -> S3LandingCache:
        return S3LandingCache(self.landing_dir)

    def prepare(self, days: set[str]) -> None:
        for day in sorted(days):
            self.s3_landing.download_day(day, self.landing_dir)

    def scan(self) -> tuple[list[LandingFile], list[FileRejection]]:
        return self.cache().scan()

    def refusals(self, refused: list) -> list[FileRejection]:
        return refused  # already rejections (S3LandingCache.scan)

    def location(self) -> str:
        return f"s3://{self.s3_landing.bucket}/{self.s3_landing.prefix.strip('/')}"


FEEDER_HEADS_ENV = "LASCOPF_FEEDER_HEADS"


class FeederHeads(dg.ConfigurableResource):
    """The grid elements heading a feeder (comma-separated ids); empty: each source transformer heads one."""

    element_ids: str = ""

    def element_list(self) -> list[str]:
        return [e.strip() for e in self.element_ids.split(",") if e.strip()]


class ExportsFolder(dg.ConfigurableResource):
    """Where assets write files meant for other tools (HTML reports, PowerSystems.jl cases)."""

    path: str

    def folder(self, *parts: str) -> Path:
        folder = Path(self.path, *parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def _path_setting(env_name: str, default: Path) -> str | dg.EnvVar:
    """A path from the environment when set (shown as such in the UI), else the local default."""
    return dg.EnvVar(env_name) if env_name in os.environ else str(default)


def local_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV, PROJECT_ROOT / "data"))


def build_resources(profile: str | None = None) -> dict[str, object]:
    """The resources of ``profile`` (default: the current ``LASCOPF_PROFILE``)."""
    profile = profile or current_profile()
    data_dir = local_data_dir()
    zone = LandingZone(
        landing_dir=_path_setting(PATH_ENV["landing"], data_dir / "landing"),
        topology_dir=_path_setting(PATH_ENV["topology"], data_dir / "topology"),
        state_dir=_path_setting(PATH_ENV["state"], data_dir / "state"),
    )
    exports = ExportsFolder(path=_path_setting(PATH_ENV["exports"], data_dir / "exports"))
    heads = FeederHeads(element_ids=dg.EnvVar(FEEDER_HEADS_ENV) if FEEDER_HEADS_ENV in os.environ else "")
    common = {"exports": exports, "feeder_heads": heads}
    if profile == "local":
        lake = ParquetLakeIOManager(base_path=_path_setting(PATH_ENV["lake"], data_dir / "lake"))
        return {**common, "io_manager": lake, "timeseries_io_manager": lake, "zone": zone}
    # production: Parquet in S3, time series and results in PostgreSQL/TimescaleDB, landing in S3
    s3_landing = s3_landing_from_env()
    return {
        **common,
        "io_manager": s3_lake_io_manager_from_env(),
        "timeseries_io_manager": postgres_io_manager_from_env(),
        "s3_landing": s3_landing,
        "zone": S3LandingZone(
            landing_dir=zone.landing_dir, topology_dir=zone.topology_dir, state_dir=zone.state_dir, s3_landing=s3_landing
        ),
    }
