"""How tests and benchmarks find or start their servers (lascopf_assets_tests/dev_servers.py)."""

import psycopg
import pytest

from lascopf_assets_tests import dev_servers


def test_configured_dsn_wins_and_a_dead_one_is_an_error(embedded_postgres_dsn, monkeypatch):
    monkeypatch.setenv(dev_servers.DSN_ENV, embedded_postgres_dsn)
    with dev_servers.postgres_server() as (dsn, origin):
        assert (dsn, origin) == (embedded_postgres_dsn, "env")
    monkeypatch.setenv(dev_servers.DSN_ENV, f"postgresql://postgres@127.0.0.1:{dev_servers.free_port()}/postgres")
    with pytest.raises(RuntimeError, match="LASCOPF_TEST_PG_DSN is set but no PostgreSQL answers"), dev_servers.postgres_server():
        pass


def test_scratch_database_is_fresh_and_dropped(pg_admin_dsn):
    with dev_servers.scratch_database(pg_admin_dsn, prefix="lascopf_probe") as dsn, psycopg.connect(dsn) as conn:
        name = conn.info.dbname
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0
    with psycopg.connect(pg_admin_dsn) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None


def test_moto_server_is_a_real_http_endpoint_on_loopback(s3_endpoint):
    assert s3_endpoint.startswith("http://127.0.0.1:")
    import http.client

    host, port = s3_endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("GET", "/")
    assert conn.getresponse().status == 200  # ListBuckets answered over TCP
