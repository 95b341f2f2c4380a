"""A tiny demo zone materialized for real (``lascopf demo``: 1 day, 2 feeders, 4 junctions) on a persistent
local instance in a temporary DAGSTER_HOME, the API (uvicorn, ``python -m lascopf_assets.api``) and a
``dagster-webserver`` on free loopback ports against the same instance and lake. Module-scoped."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAY = "2023-01-01"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer {url} within {timeout} s: {log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Platform:
    root: Path
    data: Path
    env: dict[str, str]
    api: str  # base URL
    token: str
    webserver_port: int

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def platform_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LASCOPF_", "DAGSTER_"))}
    env.update({"DAGSTER_HOME": str(tmp / "home"), "LASCOPF_DATA_DIR": str(tmp / "data"), "LASCOPF_PROFILE": "local"})
    return env


def start_api(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lascopf_assets.api"], cwd=ROOT,
                            env={**env, "LASCOPF_API_PORT": str(port)}, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/health", proc, 60, "the API", log)
    return proc, base


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    (tmp / "home").mkdir()
    shutil.copy(ROOT / "dagster.local.yaml", tmp / "home" / "dagster.yaml")
    env = platform_env(tmp)
    token = secrets.token_urlsafe(24)
    web_port = free_port()
    web_log = tmp / "webserver.log"
    webserver = subprocess.Popen(
        [str(BIN / "dagster-webserver"), "-m", "lascopf_assets.definitions", "-h", "127.0.0.1", "-p", str(web_port)],
        cwd=ROOT, env=env, stdout=web_log.open("w"), stderr=subprocess.STDOUT,
    )
    procs = [webserver]
    try:
        with pytest.MonkeyPatch.context() as mp:  # the demo runs in this process, on the same instance and lake
            for name in [k for k in os.environ if k.startswith(("LASCOPF_", "DAGSTER_"))]:
                mp.delenv(name)
            for name in ("DAGSTER_HOME", "LASCOPF_DATA_DIR", "LASCOPF_PROFILE"):
                mp.setenv(name, env[name])
            from lascopf_assets.cli import main

            assert main(["demo", "--days", "1", "--feeders", "2", "--junctions", "2", "--phase-time-limit", "10", "--no-lv-feeder"]) == 0
            api_env = {**env, "LASCOPF_API_TOKEN": token, "LASCOPF_DAGSTER_HOST": "127.0.0.1",
                       "LASCOPF_DAGSTER_PORT": str(web_port)}
            api, base = start_api(api_env, tmp / "api.log")
            procs.append(api)
            wait_for(f"http://127.0.0.1:{web_port}/server_info", webserver, 90, "dagster-webserver", web_log)
            yield Platform(tmp, tmp / "data", api_env, base, token, web_port)
    finally:
        for proc in procs:
            stop(proc)
