"""Server fixtures for the storage tests.

They come from the plugin ``lascopf_assets_tests.servers``. Until the root
conftest lists it in ``pytest_plugins`` (a non-root conftest may not), import
them here; once it does, this import is skipped so they are not registered twice.
"""

from lascopf_assets_tests import conftest as _root

if "lascopf_assets_tests.servers" not in getattr(_root, "pytest_plugins", ()):
    from lascopf_assets_tests.servers import (  # noqa: F401
        embedded_postgres_dsn,
        pg_admin_dsn,
        postgres_dsn,
        s3_bucket,
        s3_endpoint,
    )
