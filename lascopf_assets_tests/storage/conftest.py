"""Server fixtures for the storage tests.

Until the root conftest lists ``pytest_plugins = ["lascopf_assets_tests.servers"]``,
import them here (a non-root conftest may not declare pytest_plugins).
"""

from lascopf_assets_tests.servers import (  # noqa: F401
    embedded_postgres_dsn,
    pg_admin_dsn,
    postgres_dsn,
    s3_bucket,
    s3_endpoint,
)
