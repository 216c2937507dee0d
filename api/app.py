"""The FastAPI application: built from :class:`~contraband.api.settings.Settings`, one per worker.

At start it opens the history store (which also keeps the API keys) and loads the model
(registry, else its local cache). Request bodies above the configured size are refused with 413
before they are read; every error answers with the same small JSON body
(:class:`~contraband.api.schemas.Problem`); API keys are never logged.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from contraband.api import outcomes, scoring
from contraband.api.access import KeyRing
from contraband.api.champion import Champion, NoModel
from contraband.api.deps import ApiError, problem
from contraband.api.schemas import Health
from contraband.api.settings import Settings

PAGE = Path(__file__).parent / "page"
log = logging.getLogger("contraband.api")


class BodyLimit:
    """Refuse a request body above ``max_bytes`` with 413, before the app reads it (declared
    length) or as soon as it passes the limit (chunked). FastAPI's own ``max_body_size``
    answers a declared oversize length in plain text, outside the documented error model."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send)
        received, started = 0, False

        async def limited():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b"")) if message["type"] == "http.request" else 0
            if received > self.max_bytes:
                raise _TooLarge
            return message

        async def tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, tracked)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send):
        body = json.dumps({"error": "too_large", "message": f"the request is larger than the {self.max_bytes / 2**20:g} MB "
                                                              "this service accepts; split the manifest"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


_KINDS = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
          415: "unsupported"}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from contraband.data.history import StoreError, open_history

        try:
            store = open_history(settings.history, create=False)  # a service never creates a store
        except StoreError as exc:  # `serve` checked it before starting this worker: it changed since
            log.error("cannot start: %s", exc)
            raise SystemExit(3) from None
        app.state.store = store
        app.state.keys = KeyRing(store)
        app.state.champion = Champion(settings.model_uri, settings.model_cache, store, settings.follow_seconds)
        app.state.load_error = None
        try:
            served = app.state.champion.load()
            log.warning("serving %s version %s (%s)%s", served.name, served.version, served.source,
                        f": {served.note}" if served.note else "")
        except NoModel as exc:
            app.state.load_error = str(exc)
            log.error("no model to serve: %s", exc)
        yield
        store.close()

    app = FastAPI(title="contraband", version="1",
                  description="Risk scores, with reasons, for customs declarations that may hide rare-earth "
                              "contraband; inspection outcomes back into the history.",
                  lifespan=lifespan)
    app.state.settings = settings
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    app.include_router(scoring.router)
    app.include_router(outcomes.router)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError):
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException):  # e.g. a broken multipart body
        kind = _KINDS.get(exc.status_code, "bad_request" if exc.status_code < 500 else "server_error")
        return JSONResponse({"error": kind, "message": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.get("/healthz", response_model=Health, tags=["service"], summary="The process answers")
    def healthz():
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
    return app
