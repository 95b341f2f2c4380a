"""Storage clients: the partitioned Parquet lake (local disk or S3), PostgreSQL/TimescaleDB tables, the S3 landing prefix.

A layer of its own between the domain core (``lascopf_assets.lib``, which never imports it) and the
Dagster wrappers (``lascopf_assets.defs``, whose IO managers and resources wrap it). No Dagster imports.
"""
