"""Launch and follow runs through Dagster's GraphQL API (``dagster_graphql.DagsterGraphQLClient``).

The webserver at ``LASCOPF_DAGSTER_HOST``:``LASCOPF_DAGSTER_PORT`` launches the run (its instance's run
coordinator queues it; the daemon starts it). A day's dispatch is the ``lascopf_dispatch`` multi-asset
for that day partition; a feeder's phase balancing is ``phase_assignment`` for that feeder partition.
Both go to the implicit asset job ``__ASSET_JOB`` with the ``dagster/partition`` tag.
"""

from __future__ import annotations

from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from lascopf_assets.storage.results_schema import RESULTS_TABLES

ASSET_JOB = "__ASSET_JOB"
# the dispatch multi-asset is not subsettable: a launch names every output (the results schema's tables)
DISPATCH_ASSETS = [spec.name for spec in RESULTS_TABLES]
PHASE_ASSETS = ["phase_assignment"]


class LaunchError(RuntimeError):
    """Dagster refused or could not be reached (the API's 502, with Dagster's words)."""


class RunNotFound(LookupError):
    pass


def _unreachable(exc: BaseException) -> BaseException | None:
    """The transport failure under a GraphQL client error (no webserver there), if that is what it is."""
    seen = exc
    while seen is not None:
        if isinstance(seen, (ConnectionError, OSError)) or "Transport" in type(seen).__name__:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def first_line(exc: BaseException) -> str:
    """An exception's first line of text (its type's name when it has none), for a one-line HTTP detail."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()


class DagsterLauncher:
    def __init__(self, host: str, port: int, location: str | None = None, timeout: int = 30):
        self.host, self.port, self.location, self.timeout = host, port, location, timeout

    def _client(self) -> DagsterGraphQLClient:
        try:
            return DagsterGraphQLClient(self.host, port_number=self.port, timeout=self.timeout)
        except Exception as exc:  # the client queries the server's version when built
            raise LaunchError(f"Dagster webserver at {self.host}:{self.port} is not reachable: {exc}") from exc

    def launch(self, assets: list[str], partition: str) -> str:
        client = self._client()
        try:
            return client.submit_job_execution(
                ASSET_JOB, repository_location_name=self.location, asset_selection=assets,
                tags={"dagster/partition": partition, "lascopf/launched_by": "results-api"},
            )
        except DagsterGraphQLClientError as exc:
            self._raise_if_unreachable(exc)
            raise LaunchError(f"Dagster refused the run of {', '.join(assets)} [{partition}]: {exc}") from exc
        except Exception as exc:  # connection errors from the transport
            raise LaunchError(f"Dagster webserver at {self.host}:{self.port}: {exc}") from exc

    def _raise_if_unreachable(self, exc: BaseException) -> None:
        # the client wraps a refused connection in a "query failed" error that quotes the whole query
        cause = _unreachable(exc)
        if cause is not None:
            raise LaunchError(f"Dagster webserver at {self.host}:{self.port} is not reachable: {first_line(cause)}") from exc

    def status(self, run_id: str) -> str:
        client = self._client()
        try:
            return client.get_run_status(run_id).value
        except DagsterGraphQLClientError as exc:
            self._raise_if_unreachable(exc)
            if "RunNotFoundError" in str(exc) or "not found" in str(exc).lower():
                raise RunNotFound(f"no run {run_id!r} in the Dagster instance") from exc
            raise LaunchError(f"Dagster could not say the status of run {run_id}: {exc}") from exc
        except Exception as exc:
            raise LaunchError(f"Dagster webserver at {self.host}:{self.port}: {exc}") from exc
