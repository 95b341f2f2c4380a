"""Storage backends for DataFrames by partition: Parquet lake (local, S3), PostgreSQL tables."""
