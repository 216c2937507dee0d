"""What one request may cost, and how a JSON body is read within it.

- The body's bytes, counted as they arrive, whether the length is declared or the body is
  chunked: a manifest upload up to the upload limit (``--max-upload-mb``), any other body up
  to the JSON limit (``--max-json-mb``). A declared length above it is refused before anything
  is read; a body that passes it is answered 413 the moment it does, whatever the endpoint was
  doing with it (its own answer to a body it could not finish reading is dropped), and the rest
  is never read. Every 413 is the documented ``{"error": "too_large", "message": ...}``.
- The rows of a JSON batch: a list in the body longer than ``--max-json-rows`` (declarations
  or outcomes) is refused with 413 before the request is validated or scored.
- A JSON body above :data:`INLINE_BYTES` is parsed in the thread pool (the one-declaration
  path, a few hundred bytes, is parsed where it arrives: a thread hop would cost it more than
  the parse). ``json.loads`` holds the interpreter lock while it runs, so what bounds the time
  any request can hold the event loop is the byte limit (about 0.1 s per 16 MB here).
- A body that is not JSON (bad syntax, not UTF-8, nested too deep, an integer of thousands of
  digits) is a 400 ``bad_request`` with what is wrong and where, never the body itself.
"""

from __future__ import annotations

import json

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request

#: bodies up to this size are parsed on the event loop
INLINE_BYTES = 64 * 2**10


def _mb(n: int) -> str:
    return f"{n / 2**20:g} MB"


class TooLarge(HTTPException):
    """A request above a limit (FastAPI passes an HTTPException raised while reading on unchanged)."""

    def __init__(self, message: str):
        super().__init__(413, message)


class BodyLimit:
    """ASGI middleware: a body above its endpoint's limit is answered 413 (see the module)."""

    def __init__(self, app, *, upload_bytes: int, json_bytes: int, upload_paths: tuple[str, ...]):
        self.app, self.upload_bytes, self.json_bytes, self.upload_paths = app, upload_bytes, json_bytes, upload_paths

    def _limit(self, scope) -> tuple[int, str]:
        if scope["path"] in self.upload_paths:
            return self.upload_bytes, (f"the upload is larger than the {_mb(self.upload_bytes)} this service accepts; "
                                       "split the manifest into smaller files")
        return self.json_bytes, (f"the request body is larger than the {_mb(self.json_bytes)} this service accepts "
                                 "for JSON; send fewer declarations per request, or upload them as a manifest "
                                 "(POST /v1/manifests)")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit, message = self._limit(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            return await refuse(send, message)
        received, over, started = 0, False, False

        async def limited():
            nonlocal received, over
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > limit:
                    over = True
                    raise TooLarge(message)
            return event

        async def answered(event):
            nonlocal started
            if over and not started:  # the endpoint's answer to a body it could not read: replaced below
                return
            started = started or event["type"] == "http.response.start"
            await send(event)

        try:
            await self.app(scope, limited, answered)
        except Exception:
            if not over:
                raise
        if over and not started:
            await refuse(send, message)


async def refuse(send, message: str) -> None:
    body = json.dumps({"error": "too_large", "message": message}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def parse_json(body: bytes):
    """The body as JSON, or a 400 saying what is wrong and where (never echoing the body)."""
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise HTTPException(400, f"the request body is not valid JSON: {exc.msg} (line {exc.lineno}, "
                                 f"column {exc.colno})") from None
    except (ValueError, RecursionError):  # not UTF-8 text, an integer of thousands of digits, nested too deep
        raise HTTPException(400, "the request body is not valid JSON: send UTF-8 JSON with numbers of at most "
                                 "a few hundred digits, nested at most a few hundred levels") from None


def check_rows(parsed, max_rows: int) -> None:
    """413 when a list at the top of the body (a batch of declarations or outcomes) is too long."""
    if not isinstance(parsed, dict):
        return
    for name, value in parsed.items():
        if isinstance(value, list) and len(value) > max_rows:
            raise TooLarge(f"the request holds {len(value):,} {str(name)[:40]}; this service takes at most "
                           f"{max_rows:,} per JSON request: send them in several requests, or upload them as a "
                           "manifest (POST /v1/manifests)")


class LimitedJson(Request):
    """A request whose JSON body is parsed within the service's limits (see the module)."""

    async def json(self):
        if not hasattr(self, "_limited_json"):
            body = await self.body()
            parsed = parse_json(body) if len(body) <= INLINE_BYTES else await run_in_threadpool(parse_json, body)
            check_rows(parsed, self.app.state.settings.max_json_rows)
            self._limited_json = parsed
        return self._limited_json


class LimitedJsonRoute(APIRoute):
    """The route class of the API's routers: their endpoints read JSON through :class:`LimitedJson`."""

    def get_route_handler(self):
        handle = super().get_route_handler()

        async def limited(request: Request):
            return await handle(LimitedJson(request.scope, request.receive, request._send))

        return limited
