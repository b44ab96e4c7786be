"""The console's own origin.

Content that users or their code control — bucket websites, gateway responses, objects opened
through presigned URLs — is served on cove's API port.  Had the console lived there too, a page
of such content would share its origin: read its pages and CSRF token, act with the signed-in
user's session.  So the console listens on a port of its own (a browser origin of its own), and
the API port only sends a browser that asks it for ``/ui`` over there.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from cove.console._app import PREFIX


def console_app(console: ASGIApp) -> ASGIApp:
    """The console port's app: ``/ui...`` is the console, ``/`` leads there, nothing else."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == PREFIX or path.startswith(PREFIX + "/"):
            await console(scope, receive, send)
            return
        response: Response = RedirectResponse(f"{PREFIX}/", 303) if path == "/" else \
            PlainTextResponse("Not Found: the console lives under /ui/.", 404)
        await response(scope, receive, send)

    return app


def moved_to(console_url: str) -> ASGIApp:
    """On the API port: ``GET /ui...`` redirects to the same path on the console's origin."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        if scope["method"] in ("GET", "HEAD"):
            path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
            query = scope["query_string"].decode("latin-1")
            response = RedirectResponse(console_url + path + (f"?{query}" if query else ""), 302)
        else:
            response = JSONResponse({"code": "NotFound", "message": "The console has its own "
                                     f"address: {console_url}{PREFIX}/"}, 404)
        await response(scope, receive, send)

    return app
