"""The FastAPI app: read endpoints over the stored results, execute endpoints through Dagster, /metrics.

``create_app()`` builds everything from the environment (``settings.ApiSettings.from_env``);
tests pass their own settings. ``python -m lascopf_assets.api`` (``make api``) serves it with
uvicorn on ``LASCOPF_API_HOST``:``LASCOPF_API_PORT`` (default 127.0.0.1:8080).
"""

from __future__ import annotations

import datetime as dt
import re
from enum import Enum
from typing import Annotated

import psycopg
from fastapi import Depends, FastAPI, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from lascopf_assets.api.auth import require_token
from lascopf_assets.api.launcher import (
    DISPATCH_ASSETS,
    PHASE_ASSETS,
    DagsterLauncher,
    LaunchError,
    RunNotFound,
    first_line,
)
from lascopf_assets.api.metrics import PlatformMetrics, S3LandingWatch
from lascopf_assets.api.models import (
    DataQuality,
    DayList,
    DispatchSummary,
    FeederList,
    PhaseRecommendation,
    Problem,
    RunLaunched,
    RunStatus,
    TableRows,
)
from lascopf_assets.api.readers import DISPATCH_TABLES, NotFound, Results
from lascopf_assets.api.settings import ApiSettings
from lascopf_assets.api.store import ResultStore, store_from_settings
from lascopf_assets.storage.pg_types import TableStoreError
from lascopf_assets.storage.s3_lake import S3LakeError

DAY_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
RUN_ID_PATTERN = r"^[0-9a-fA-F-]{36}$"
FEEDER_PATTERN = r"^[^/\x00-\x1f]{1,200}$"

DispatchTable = Enum("DispatchTable", {name: name for name in DISPATCH_TABLES}, type=str)
Day = Annotated[str, Path(pattern=DAY_PATTERN, description="UTC day, YYYY-MM-DD", examples=["2023-01-01"])]
Feeder = Annotated[str, Path(pattern=FEEDER_PATTERN, description="Feeder id (its head's grid_element_id)")]
RunId = Annotated[str, Path(pattern=RUN_ID_PATTERN, description="Dagster run id (a UUID)")]

ERRORS = {404: {"model": Problem, "description": "Not materialized"},
          422: {"model": Problem, "description": "Malformed input"},
          503: {"model": Problem, "description": "The results storage (PostgreSQL, the S3 lake) cannot be read"}}
EXEC_ERRORS = {**ERRORS, 401: {"model": Problem, "description": "Missing or wrong bearer token"},
               502: {"model": Problem, "description": "Dagster refused the run or is unreachable"},
               503: {"model": Problem, "description": "Execute endpoints disabled (no token configured)"}}


def checked_day(day: str) -> str:
    if not re.match(DAY_PATTERN, day):
        raise HTTPException(422, f"day {day!r} is not a date: use YYYY-MM-DD")
    try:
        dt.date.fromisoformat(day)
    except ValueError as exc:
        raise HTTPException(422, f"day {day!r} is not a calendar date: {exc}") from exc
    return day


def create_app(settings: ApiSettings | None = None, store: ResultStore | None = None,
               launcher: DagsterLauncher | None = None, metrics: PlatformMetrics | None = None) -> FastAPI:
    settings = settings or ApiSettings.from_env()
    results = Results(store or store_from_settings(settings))
    launcher = launcher or DagsterLauncher(settings.dagster_host, settings.dagster_port, settings.dagster_location)
    if metrics is None:  # production: the landing age of the bucket the S3 sensor watches
        watch = S3LandingWatch.from_env() if settings.profile == "production" else None
        metrics = PlatformMetrics(settings.landing_dir, results, landing_watch=watch)

    app = FastAPI(
        title="lascopf_assets results API",
        version="1",
        description="Read-only results of the platform (phase recommendations per feeder, dispatch per day, data "
                    "quality per day) from the storage the assets write; execute endpoints (bearer token) launch "
                    "runs through Dagster's GraphQL API; Prometheus metrics at /metrics.",
    )
    app.state.settings, app.state.results, app.state.launcher, app.state.metrics = settings, results, launcher, metrics

    @app.exception_handler(NotFound)
    def _not_found(_: Request, exc: NotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(TableStoreError)
    @app.exception_handler(S3LakeError)
    @app.exception_handler(psycopg.OperationalError)
    def _storage_unavailable(_: Request, exc: Exception):
        # the results database or the object store cannot be read: a 503 saying which and why, not a bare 500
        return JSONResponse({"detail": f"results storage unavailable: {first_line(exc)}"}, status_code=503)

    @app.exception_handler(RequestValidationError)
    def _malformed(_: Request, exc: RequestValidationError):
        # one sentence per problem ("path day: String should match pattern ..."), the same shape as every 4xx
        words = "; ".join(f"{' '.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors())
        return JSONResponse({"detail": words or "malformed request"}, status_code=422)

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok", "profile": settings.profile}

    # -- phase balancing ---------------------------------------------------------
    @app.get("/feeders", response_model=FeederList, tags=["phase balancing"])
    def feeders():
        return {"feeders": results.feeders()}

    @app.get("/feeders/{feeder}/phase-recommendation", response_model=PhaseRecommendation, responses=ERRORS,
             tags=["phase balancing"])
    def phase_recommendation(feeder: Feeder):
        if feeder not in results.feeders():
            raise NotFound(f"feeder {feeder!r} has no phase_assignment (feeders with one: "
                           f"{', '.join(results.feeders()) or 'none'})")
        return results.phase_recommendation(feeder)

    # -- dispatch ----------------------------------------------------------------
    @app.get("/dispatch", response_model=DayList, tags=["dispatch"])
    def dispatch_days():
        return {"days": results.dispatch_days()}

    @app.get("/dispatch/{day}", response_model=DispatchSummary, responses=ERRORS, tags=["dispatch"])
    def dispatch(day: Day):
        return results.dispatch(checked_day(day))

    @app.get("/dispatch/{day}/{table}", response_model=TableRows, responses=ERRORS, tags=["dispatch"])
    def dispatch_table(day: Day, table: DispatchTable):
        return results.dispatch_table(checked_day(day), table.value)

    # -- data quality ------------------------------------------------------------
    @app.get("/quality", response_model=DayList, tags=["data quality"])
    def quality_days():
        return {"days": results.quality_days()}

    @app.get("/quality/{day}", response_model=DataQuality, responses=ERRORS, tags=["data quality"])
    def quality(day: Day):
        return results.quality(checked_day(day))

    # -- execute -----------------------------------------------------------------
    def _launch(assets: list[str], partition: str) -> dict:
        try:
            run_id = launcher.launch(assets, partition)
        except LaunchError as exc:
            raise HTTPException(502, str(exc)) from exc
        return {"run_id": run_id, "asset_selection": assets, "partition": partition}

    @app.post("/runs/dispatch/{day}", response_model=RunLaunched, status_code=202, responses=EXEC_ERRORS,
              dependencies=[Depends(require_token)], tags=["execute"])
    def launch_dispatch(day: Day):
        day = checked_day(day)
        if results.store.day_counts("junction_aggregates", day) is None:
            raise NotFound(f"no junction_aggregates for {day}: ingest the day before dispatching it")
        return _launch(["powersystems_system", *DISPATCH_ASSETS], day)

    @app.post("/runs/phase-balancing/{feeder}", response_model=RunLaunched, status_code=202, responses=EXEC_ERRORS,
              dependencies=[Depends(require_token)], tags=["execute"])
    def launch_phase_balancing(feeder: Feeder):
        topology = results.store.table("grid_topology")
        known = sorted(topology["feeder"].dropna().astype(str).unique()) if topology is not None else []
        if feeder not in known:
            raise NotFound(f"unknown feeder {feeder!r} (feeders of grid_topology: {', '.join(known) or 'none'})")
        return _launch(PHASE_ASSETS, feeder)

    @app.get("/runs/{run_id}", response_model=RunStatus, responses=EXEC_ERRORS, dependencies=[Depends(require_token)],
             tags=["execute"])
    def run_status(run_id: RunId):
        try:
            return {"run_id": run_id, "status": launcher.status(run_id)}
        except RunNotFound as exc:
            raise NotFound(str(exc)) from exc
        except LaunchError as exc:
            raise HTTPException(502, str(exc)) from exc

    # -- metrics -----------------------------------------------------------------
    @app.get("/metrics", tags=["meta"], response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text exposition"}})
    def prometheus_metrics():
        return Response(metrics.scrape(), media_type=CONTENT_TYPE_LATEST)

    return app


def main() -> None:
    import uvicorn

    settings = ApiSettings.from_env()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
