"""The FastAPI application: built from :class:`~contraband.api.settings.Settings`, one per worker.

At start it opens the history store (which also keeps the API keys) and loads the model
(registry, else its local cache; none: the worker answers 503 until one is registered); any other
failure at start stops the service in one line (:mod:`~contraband.api.startup`). The mappings
analysts may name are read when the app is built. Around every request: the security headers
(:mod:`~contraband.api.headers`) and the body's limits (:mod:`~contraband.api.limits`: 413
before or as soon as a body passes them). Every error answers with the same small JSON body
(:class:`~contraband.api.schemas.Problem`; a request that breaks the schema gets 422 with where
each problem is, never the value sent); a failure nobody foresaw is a 500 Problem whose
traceback goes to the log, never to the caller. API keys are never logged. ``/docs`` and
``/redoc`` are off (their pages load Swagger UI and ReDoc from a CDN, which this service must
never need); the schema is ``/openapi.json``.
"""

from __future__ import annotations

import logging
import os
import re
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from contraband.api import amendments, desk, outcomes, scoring, startup, words
from contraband.api.access import KeyRing
from contraband.api.champion import Champion, NoModel
from contraband.api.deps import ApiError, problem
from contraband.api.headers import SecurityHeaders, security_headers
from contraband.api.limits import BodyLimit
from contraband.api.mappings import MappingChoice
from contraband.api.openapi import declare_choices
from contraband.api.schemas import Health
from contraband.api.settings import Settings
from contraband.desk import CaseError, Desk

PAGE = Path(__file__).parent / "page"
log = logging.getLogger("contraband.api")
_KINDS = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
          415: "unsupported"}
_SHOWN_PROBLEMS = 20


def _methods_by_path(app: FastAPI) -> list[tuple[re.Pattern, frozenset[str]]]:
    """Each route's path pattern and methods (included routers' routes with their prefix)."""
    from fastapi.routing import iter_route_contexts

    return [(compile_path(route.path)[0], frozenset(route.methods)) for route in iter_route_contexts(app.routes)
            if route.path and route.methods]


def _allowed_methods(request: Request) -> str | None:
    """Every method the request's path takes: a path may have one route per method, and the
    router's own 405 names only the first route it matched."""
    table = request.app.state.methods_by_path
    path = request.url.path
    return ", ".join(sorted(set().union(*(methods for pattern, methods in table if pattern.match(path))))) or None


def _invalid(exc: RequestValidationError) -> JSONResponse:
    """422: where each problem is and what is wrong; never the value sent (it may be huge, or
    a number JSON cannot carry)."""
    errors = exc.errors()
    problems = [{"where": ".".join(str(part) for part in e.get("loc", ()))[:200] or "request",
                 "reason": str(e.get("msg", "invalid"))[:300]} for e in errors[:_SHOWN_PROBLEMS]]
    problems = problems or [{"where": "request", "reason": "invalid"}]
    more = len(errors) - 1
    message = f"{problems[0]['where']}: {problems[0]['reason']}" + (
        f" (and {more:,} more problem{'s' if more > 1 else ''})" if more > 0 else "")
    return JSONResponse({"error": "invalid", "message": message, "problems": problems}, status_code=422)


def create_app(settings: Settings | None = None) -> FastAPI:
    try:
        settings = settings or Settings.from_env()
    except ValueError as exc:  # a setting from the environment that is not a number
        startup.fail(f"a setting in the environment: {startup.in_words(exc)}")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from contraband.data.history import StoreError, open_history

        try:
            store = open_history(settings.history, create=False)  # a service never creates a store
        except StoreError as exc:  # `serve` checked it before starting this worker: it changed since
            startup.fail(str(exc))
        try:
            app.state.store = store
            app.state.keys = KeyRing(store)
            app.state.desk = Desk(store)
            app.state.few_declarations = scoring.few_declarations()
            app.state.champion = Champion(settings.model_uri, settings.model_cache, store, settings.follow_seconds)
            app.state.load_error = None
            try:
                served = app.state.champion.load()
                log.warning("serving %s version %s (%s)%s", served.name, served.version, served.source,
                            f": {served.note}" if served.note else "")
            except NoModel as exc:  # no model yet: the worker starts, not ready (503) until one is registered
                app.state.load_error = str(exc)
                log.error("no model to serve: %s", exc)
        except Exception as exc:  # noqa: BLE001 - anything else: the service stops, in one line
            store.close()
            startup.fail(f"{startup.in_words(exc)} (history {store.url})")
        yield
        store.close()

    app = FastAPI(title="contraband", version="1",
                  description="Risk scores, with reasons, for customs declarations that may hide rare-earth "
                              "contraband; inspection outcomes back into the history.",
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.mappings = MappingChoice(settings.mappings)
    app.add_middleware(BodyLimit, upload_bytes=settings.max_upload_bytes, json_bytes=settings.max_json_bytes,
                       upload_paths=scoring.UPLOAD_PATHS + desk.UPLOAD_PATHS)
    app.add_middleware(SecurityHeaders)  # outermost: every answer, the size limit's 413s among them
    app.include_router(scoring.router)
    app.include_router(amendments.router)
    app.include_router(outcomes.router)
    app.include_router(desk.router)
    app.include_router(words.router)
    declare_choices(app, {"mapping": app.state.mappings.names, "encoding": scoring.ENCODINGS})

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError):
        return exc.response()

    @app.exception_handler(CaseError)
    async def refused_by_the_desk(request: Request, exc: CaseError):
        return desk.refused(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):  # e.g. a broken multipart body
        kind = _KINDS.get(exc.status_code, "bad_request" if exc.status_code < 500 else "server_error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
        return JSONResponse({"error": kind, "message": str(exc.detail)}, status_code=exc.status_code,
                            headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError):
        return _invalid(exc)

    @app.exception_handler(Exception)
    async def server_error(request: Request, _exc: Exception):
        # the last line of defence: Starlette raises the failure again once this answer is sent (uvicorn
        # logs its traceback); the
        # answer is built here, outside the middleware, so it carries the security headers itself
        log.error("unforeseen failure answering %s %s (traceback follows)", request.method, request.url.path)
        return JSONResponse({"error": "server_error", "message": "the service failed to answer this request; the "
                                                                  "failure is in the service's log"},
                            status_code=500, headers=security_headers())

    @app.get("/healthz", response_model=Health, tags=["service"], summary="The process answers")
    async def healthz():  # on the event loop itself: it answers when the loop does, not when a thread is free
        return {"status": "ok", "worker": os.getpid()}

    @app.get("/readyz", response_model=Health, tags=["service"], summary="A model is loaded",
             responses={503: problem("no model loaded")})
    def readyz(request: Request):
        current = request.app.state.champion.current
        if current is None:
            return JSONResponse({"error": "not_ready", "message": request.app.state.load_error or "starting"},
                                status_code=503)
        return {"status": "ready", "model": f"{current.name} v{current.version} ({current.source})",
                "worker": os.getpid()}

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(PAGE / "index.html")

    app.mount("/page", StaticFiles(directory=PAGE), name="page")
    app.state.methods_by_path = _methods_by_path(app)
    return app
