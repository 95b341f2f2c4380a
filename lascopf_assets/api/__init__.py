"""Read-only results API and Prometheus metrics over what the platform writes (issue 16).

One job per module: ``settings`` (everything from the environment), ``store`` (the storage the
assets write: the Parquet lake locally, PostgreSQL + the S3 lake in production; no Dagster),
``readers`` (phase recommendations, dispatch, data quality from the store), ``models`` (response
shapes, the OpenAPI schema), ``auth`` (bearer token of the execute endpoints), ``launcher`` (runs
through Dagster's GraphQL API), ``metrics`` (the Prometheus exposition), ``app`` (the FastAPI
factory and ``python -m lascopf_assets.api``).
"""
