"""The web app's last route: an account's own import path, and the answer to every
request no other route took.

It takes every method. Taking only POST (the import), it would match the path of any
request, so starlette would answer a GET of a path nobody serves with 405, and a POST
to a path served by GET alone would be taken for an import path that does not exist.
So: a POST to an account's own path is an import, another method there 405 (as on the
generic import path); a path another route serves answers 405 with the methods it
has; any other path is 404, the console's HTML page under /console/, the API's JSON
elsewhere (a POST also counted as a refusal of the intake, a partner's mistyped import
path).

HEAD is answered as GET is, without the body (HeadAsGet): starlette gives a route of its
own HEAD with GET, FastAPI's routes do not (fastapi#1773).
"""

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from daemon.console.access import Refused
from daemon.web.errors import CONSOLE, ApiError
from handlers import api as api_intake

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def last_route(request: Request) -> JSONResponse:
    path = request.url.path
    if _is_import_path(request, path):
        if request.method == "POST":
            return await api_intake.import_at_own_path(request)
        # As the generic import path answers another method (FastAPI's 405).
        raise HTTPException(405, headers={"Allow": "POST"})
    allowed = _allowed_elsewhere(request)
    if allowed:
        raise HTTPException(405, headers={"Allow": ", ".join(allowed)})
    if path.startswith(CONSOLE):
        raise Refused(404, "console.error.no_page", path=path)
    if request.method == "POST":
        return await api_intake.import_at_own_path(request)  # refused there, and counted
    raise ApiError(404, "not_found", path=path)


def _is_import_path(request: Request, path: str) -> bool:
    settings = request.app.state.settings()
    return any(a.api is not None and a.api.path == path for a in settings.accounts.values())


def _allowed_elsewhere(request: Request) -> list[str]:
    """The methods other routes serve this path with (asked method by method: an
    included router tells that it matches the path, not with which methods)."""
    others = [r for r in request.app.router.routes if getattr(r, "endpoint", None) != last_route]
    allowed = []
    for method in METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in others):
            allowed.append(method)
        elif method == "HEAD" and "GET" in allowed:
            allowed.append(method)  # HeadAsGet's
    return allowed


class HeadAsGet:
    """Middleware: a HEAD request goes through the app as the GET it asks about, so it
    gets the GET's status and headers whatever route (or refusal) answers. uvicorn
    sends no body to a HEAD, reading the method from its own scope, not this copy.
    Rather than HEAD added to each GET route: the OpenAPI schema would list every
    route twice, under one operation id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)
