"""What every endpoint shares: the error answers, the caller's key and role, the served model."""

from __future__ import annotations

from typing import Optional

from fastapi import Depends, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from contraband.api.access import UNKNOWN
from contraband.api.schemas import InvalidRequest, Problem


class ApiError(Exception):
    """An answer with the :class:`~contraband.api.schemas.Problem` body."""

    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message

    def response(self) -> JSONResponse:
        return JSONResponse(Problem(error=self.error, message=self.message).model_dump(), status_code=self.status)


def problem(description: str) -> dict:
    return {"model": Problem, "description": description}


AUTH_RESPONSES = {401: problem("missing or unknown API key"), 403: problem("the key's role may not do this")}
NOT_READY = {503: problem("no model loaded yet")}
#: every router's: a body that is not valid JSON (or multipart) at all; a parameter or body
#: that breaks the schema (each problem with where it is, never the value sent)
BAD_BODY = {400: problem("the request body cannot be parsed"),
            422: {"model": InvalidRequest, "description": "a parameter or the body breaks the schema"}}
#: where the key goes (the OpenAPI schema's security scheme)
API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="api_key",
                       description="an API key (an administrator creates one with: contraband keys create --role "
                                   "analyst)")


class Caller:
    def __init__(self, key_id: str, role: str):
        self.key_id, self.role = key_id, role


async def _caller(request: Request, x_api_key: Optional[str] = Security(API_KEY)) -> Caller:
    keys = request.app.state.keys
    found = keys.known(x_api_key)
    if found is UNKNOWN:  # the store's read in a thread: the event loop never waits on the store
        found = await run_in_threadpool(keys.identify, x_api_key)
    if found is None:
        raise ApiError(401, "unauthorized", "missing or unknown API key: send it in the X-API-Key header "
                                            "(an administrator creates one with: contraband keys create --role analyst)")
    return Caller(*found)


async def analyst(caller: Caller = Depends(_caller)) -> Caller:
    return caller


async def supervisor(caller: Caller = Depends(_caller)) -> Caller:
    if caller.role not in ("supervisor", "admin"):
        raise ApiError(403, "forbidden", f"this needs a supervisor's key; yours has the role {caller.role}")
    return caller


async def admin(caller: Caller = Depends(_caller)) -> Caller:
    if caller.role != "admin":
        raise ApiError(403, "forbidden", f"this needs an admin key; yours has the role {caller.role}")
    return caller


async def served(request: Request):
    """The model this request is answered with (held for the whole request)."""
    champion = request.app.state.champion
    champion.follow()
    current = champion.current
    if current is None:
        raise ApiError(503, "not_ready", f"no model loaded: {request.app.state.load_error or 'still starting'}")
    return current
