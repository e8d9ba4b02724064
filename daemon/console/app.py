"""The console in the web app: its routers, its static files, and the answers to a
browser that is not logged in (to the login page) or may not have a page (an HTML
error page, never the API's JSON)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from daemon.console import audit
from daemon.console.access import NotLoggedIn, Refused, viewer
from daemon.console.pages import accounts, home, login, run, runs, upload
from daemon.console.render import ACTION_PAGES, get_page, page

STATIC = Path(__file__).parent / "static"
RUNS_TABLE = "/console/runs/table"  # whose query is that of the list it refreshes


def install(app: FastAPI) -> None:
    for router in (
        home.router,
        login.router,
        runs.router,
        run.router,
        accounts.router,
        upload.router,
    ):
        app.include_router(router, include_in_schema=False)
    for action in ACTION_PAGES:
        app.add_api_route(action, _to_page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/favicon.ico", _no_icon, methods=["GET"], include_in_schema=False)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_exception_handler(NotLoggedIn, _to_login)
    app.add_exception_handler(Refused, _refused)
    app.state.console_error = _error_page


async def _to_page(request: Request) -> Response:
    """A GET of an action (a reload of its answer, a bookmark): its page, not a 405."""
    return RedirectResponse(get_page(request), 303)


async def _no_icon() -> Response:
    """Every new browser asks for one: "nothing", and not again for a day, rather than a
    404 in its console and the daemon's log at each session."""
    return Response(status_code=204, headers={"Cache-Control": "max-age=86400"})


async def _error_page(request: Request, status: int, key: str, params: dict) -> Response:
    """What the web app's error handler answers under /console/ (daemon/web/errors.py)."""
    refused = Refused(status, key)
    refused.params = params  # may name a `status` of its own, which Refused() takes
    return await _refused(request, refused)


async def _to_login(request: Request, exc: Exception) -> Response:
    path = request.url.path
    if path == RUNS_TABLE:  # the list's live refresh: back to the list, filters kept
        path = RUNS_TABLE.removesuffix("/table")
    target = path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        # An action no login repeats: back to the page it was sent from (a form left
        # open in a tab whose session ended elsewhere landed on the overview).
        target = get_page(request)
    location = "/console/login"
    if target != "/console/":
        location += f"?next={quote(target, safe='/')}"
    if request.headers.get("hx-request"):
        # htmx follows a redirect inside the page; this makes the whole page go.
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, 303)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    try:
        who = await viewer(request)
    except NotLoggedIn:
        who = None
    if exc.audited is not None and who is not None:
        await audit.refusal(request, who.name, *exc.audited)
    return page(request, "error.html", who, exc.status, error=exc)
