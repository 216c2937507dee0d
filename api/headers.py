"""Security headers on every answer of the service: data, errors, the page and its files.

- ``X-Content-Type-Options: nosniff``: a browser takes each answer as the type it is sent as
  (a manifest's cells in JSON are never run as a script or shown as HTML);
- ``Cache-Control: no-store``: scored declarations, evidence and outcomes are not kept by a
  browser or a proxy;
- ``Content-Security-Policy``: the page runs its own script and style sheet only (no inline
  code, nothing from another origin), talks only to this service and cannot be framed;
  ``X-Frame-Options: DENY`` says the same to older browsers;
- ``Referrer-Policy: no-referrer``: no address of the service leaves with a link;
- ``Cross-Origin-Opener-Policy`` and ``Cross-Origin-Resource-Policy: same-origin``: another
  site can neither script a window of the page nor embed the service's answers.

:class:`SecurityHeaders` adds them to every response that passes through the app (404s, 405s,
413s from the size limit, static files); :func:`security_headers` gives them to the one answer
that is built outside it, the last-resort 500.
"""

from __future__ import annotations

CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_RAW = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in HEADERS.items()]


def security_headers() -> dict[str, str]:
    """The headers, for a response built by hand."""
    return dict(HEADERS)


class SecurityHeaders:
    """ASGI middleware: every response start gets the headers it does not set itself."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def secured(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in _RAW if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secured)
