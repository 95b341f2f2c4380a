"""Dagster wrappers of the storage layer: IO managers (Parquet lake, PostgreSQL tables) and storage resources."""
