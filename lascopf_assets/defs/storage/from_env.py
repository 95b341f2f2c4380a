"""The production storage resources, configured from the environment (``dg.EnvVar``, see ``.env.example``)."""

from __future__ import annotations

import dagster as dg

from lascopf_assets.defs.storage.lake_io_managers import S3ParquetLakeIOManager
from lascopf_assets.defs.storage.resources import S3LandingBucket
from lascopf_assets.defs.storage.table_io_manager import PostgresTableIOManager
from lascopf_assets.storage.pg_tables import PG_ENV
from lascopf_assets.storage.s3_lake import S3_ENV
from lascopf_assets.storage.s3_landing import S3_LANDING_ENV

__all__ = ["PG_ENV", "S3_ENV", "S3_LANDING_ENV", "postgres_io_manager_from_env", "s3_lake_io_manager_from_env",
           "s3_landing_from_env"]


def s3_landing_from_env() -> S3LandingBucket:
    return S3LandingBucket(**{field: dg.EnvVar(env) for field, env in S3_LANDING_ENV.items()})


def postgres_io_manager_from_env() -> PostgresTableIOManager:
    return PostgresTableIOManager(**{field: dg.EnvVar(env) for field, env in PG_ENV.items() if field != "port"},
                                  port=dg.EnvVar.int(PG_ENV["port"]))


def s3_lake_io_manager_from_env() -> S3ParquetLakeIOManager:
    return S3ParquetLakeIOManager(**{field: dg.EnvVar(env) for field, env in S3_ENV.items()})
