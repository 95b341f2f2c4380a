"""The production storage resources, configured from the environment (``dg.EnvVar``, see ``.env.example``)."""

from __future__ import annotations

import dagster as dg

from lascopf_assets.defs.storage.lake_io_managers import S3ParquetLakeIOManager
from lascopf_assets.defs.storage.resources import S3LandingBucket
from lascopf_assets.defs.storage.table_io_manager import PostgresTableIOManager
from lascopf_assets.storage.s3_lake import S3_ENV

__all__ = ["PG_ENV", "S3_ENV", "S3_LANDING_ENV", "postgres_io_manager_from_env", "s3_lake_io_manager_from_env",
           "s3_landing_from_env"]

# resource field -> environment variable
PG_ENV = {
    "host": "LASCOPF_PG_HOST",
    "port": "LASCOPF_PG_PORT",
    "user": "LASCOPF_PG_USER",
    "password": "LASCOPF_PG_PASSWORD",
    "dbname": "LASCOPF_PG_DB",
}

S3_LANDING_ENV = {
    "endpoint_url": "LASCOPF_S3_ENDPOINT_URL",
    "bucket": "LASCOPF_S3_LANDING_BUCKET",
    "prefix": "LASCOPF_S3_LANDING_PREFIX",
    "access_key": "LASCOPF_S3_ACCESS_KEY",
    "secret_key": "LASCOPF_S3_SECRET_KEY",
    "region": "LASCOPF_S3_REGION",
}


def s3_landing_from_env() -> S3LandingBucket:
    return S3LandingBucket(**{field: dg.EnvVar(env) for field, env in S3_LANDING_ENV.items()})


def postgres_io_manager_from_env() -> PostgresTableIOManager:
    return PostgresTableIOManager(**{field: dg.EnvVar(env) for field, env in PG_ENV.items() if field != "port"},
                                  port=dg.EnvVar.int(PG_ENV["port"]))


def s3_lake_io_manager_from_env() -> S3ParquetLakeIOManager:
    return S3ParquetLakeIOManager(**{field: dg.EnvVar(env) for field, env in S3_ENV.items()})
