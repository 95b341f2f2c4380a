"""Results API latency: p50/p99 of the read endpoints under a bounded local load.

Generates and materializes a demo zone once (``lascopf demo`` into benchmarks/.work/api, or ``--data`` /
``--home`` of an existing one), serves the API with uvicorn on a free loopback port (one process, as
``make api``), then ``--clients`` threads each send ``--requests`` requests per endpoint, one at a time
(closed loop: at most ``--clients`` requests in flight). Prints the p50/p99 per endpoint and the total rate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "api"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=WORK / "data")
    parser.add_argument("--home", type=Path, default=WORK / "home")
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=50, help="per client and endpoint")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LASCOPF_", "DAGSTER_"))}
    env.update({"DAGSTER_HOME": str(args.home), "LASCOPF_DATA_DIR": str(args.data), "LASCOPF_PROFILE": "local"})
    if not (args.data / "lake" / "lascopf_dispatch").is_dir():
        args.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "dagster.local.yaml", args.home / "dagster.yaml")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lascopf_assets.cli", "demo", "--days", str(args.days), "--feeders", "2",
                        "--junctions", "4", "--no-lv-feeder"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        print(f"demo zone materialized in {time.perf_counter() - started:.1f} s -> {args.data}")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = subprocess.Popen([sys.executable, "-m", "lascopf_assets.api"], cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env={**env, "LASCOPF_API_PORT": str(port)})
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        day = httpx.get(f"{base}/dispatch").json()["days"][-1]
        feeder = httpx.get(f"{base}/feeders").json()["feeders"][0]
        endpoints = [f"/quality/{day}", f"/dispatch/{day}", f"/dispatch/{day}/branch_flows", f"/dispatch/{day}/bus_lmps",
                     f"/feeders/{feeder}/phase-recommendation", "/metrics"]

        def client(path: str) -> list[float]:
            times = []
            with httpx.Client(base_url=base, timeout=30) as http:
                for _ in range(args.requests):
                    t = time.perf_counter()
                    response = http.get(path)
                    times.append(time.perf_counter() - t)
                    assert response.status_code == 200, (path, response.status_code, response.text[:200])
            return times

        print(f"{args.clients} clients x {args.requests} requests per endpoint (closed loop), one uvicorn process")
        print(f"{'endpoint':48s} {'p50 ms':>8s} {'p99 ms':>8s} {'req/s':>8s}")
        for path in endpoints:
            client(path)  # warm up
            started = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                times = np.concatenate(list(pool.map(client, [path] * args.clients)))
            wall = time.perf_counter() - started
            p50, p99 = np.percentile(times, [50, 99]) * 1000
            print(f"{path:48s} {p50:8.1f} {p99:8.1f} {len(times) / wall:8.0f}")
    finally:
        api.terminate()
        api.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
