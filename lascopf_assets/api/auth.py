"""Bearer token of the execute endpoints: ``LASCOPF_API_TOKEN`` from the environment, compared in constant time.

Unset: the execute endpoints answer 503 saying so (the read endpoints stay open: they are read-only).
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from lascopf_assets.api.settings import TOKEN_ENV


def require_token(request: Request) -> None:
    expected = request.app.state.settings.token
    if not expected:
        raise HTTPException(503, f"execute endpoints are disabled: set {TOKEN_ENV} in the API's environment")
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise HTTPException(401, "missing bearer token: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
