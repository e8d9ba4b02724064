"""The store out of reach, answered in words: 503 with Retry-After on every route that
reads or writes the store, JSON for the API and an error page under the console.

Uncaught, the store's error became a bare 500 and uvicorn dropped the keep-alive
connection, so the client's next request failed too. Installed by create_app(); kept
apart from errors.py because it renders the console's page (daemon.console imports
daemon.web's routers, errors.py among them).
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from daemon.console.access import Refused
from daemon.console.render import page
from daemon.store.errors import (
    StoreUnavailable,
    refused_by_store,
    server_trouble,
    sqlite_busy,
    table_gone,
)
from daemon.web import context
from daemon.web.errors import CONSOLE
from handlers.api import RETRY_AFTER
from importers.messages import message

log = logging.getLogger(__name__)
# What reaches a route while the store cannot answer: the store could not be opened
# (StoreUnavailable), or PostgreSQL is in trouble of the moment (store/errors.py: gone
# away, restarting, read-only after a failover, a privilege taken away). Any other
# error is a bug, and stays a 500.
STORE_DOWN: tuple[type[Exception], ...] = (StoreUnavailable, psycopg.Error)
CODE = "store_unreachable"
_API = "/api/v1/"
_ANSWER = {
    "description": "Service Unavailable",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
}


async def _store_down(request: Request, exc: Exception) -> Response:
    if refused_by_store(exc):
        return _refused(request, exc)
    if table_gone(exc):
        return _table_gone(request, exc)
    cause = None if isinstance(exc, StoreUnavailable) else server_trouble(exc)
    if not isinstance(exc, StoreUnavailable) and cause is None:
        raise exc  # PostgreSQL refused what we asked: a bug, said as a 500
    if cause == "store.trouble.lock_timeout":
        # Another session's lock held past the timeout (a long import): busy, as
        # SQLite's is said, not a server out of reach.
        return _busy(request, exc)
    log.warning(
        "%s %s: the store does not answer: %s",
        request.method,
        request.url.path,
        str(exc) or type(exc).__name__,
    )
    retry = {"Retry-After": str(RETRY_AFTER)}
    if request.url.path.startswith(CONSOLE):
        return _console_page(request, retry)
    language = context.language(request)
    text = message("api.store_unreachable", language)
    if cause not in (None, "store.trouble.connection"):
        # Reached, but read-only, short of resources, …: said so, not "cannot connect".
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        text = message("api.store_trouble", language, cause=message(cause, language, detail=detail))
    return JSONResponse({"error": CODE, "message": text}, 503, headers=retry)


def _refused(request: Request, exc: Exception) -> Response:
    """The value asked or given is one the database cannot hold (a NUL in PostgreSQL's
    text, a key past what its index holds): the client's to change, not a 500 (nor a
    503, whose retry would fail alike)."""
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    log.info("%s %s: the store refused the value: %s", request.method, request.url.path, detail)
    # The one a client meets most (%00 in a query): said in words, not psycopg's.
    key = "api.value_refused.nul" if "(0x00)" in detail else "api.value_refused"
    if (getattr(exc, "sqlstate", None) or "").startswith("54"):  # past an index's limit
        key = "store.value_too_long"
    if request.url.path.startswith(CONSOLE):
        return page(request, "error.html", None, 422, error=Refused(422, key, detail=detail))
    text = message(key, context.language(request), detail=detail)
    return JSONResponse({"error": "value_refused", "message": text}, 422)


def _console_page(request: Request, headers: dict[str, str]) -> Response:
    """The console's error page, shown as to no one logged in: who is logged in is
    kept in the store, which does not answer."""
    refused = Refused(503, "console.error.store_unreachable")
    answer = page(request, "error.html", None, 503, error=refused)
    answer.headers.update(headers)
    return answer


async def _store_busy(request: Request, exc: Exception) -> Response:
    """SQLite held by another writer past its busy timeout (a long `renkei import`, an
    admin's own session): a 503 in words, where it was a bare 500 of a traceback, and
    an action that had half happened said to have failed for no reason given."""
    if table_gone(exc):
        return _table_gone(request, exc)
    if not sqlite_busy(exc):
        raise exc  # another error of SQLite's: a bug, said as a 500
    return _busy(request, exc)


def _table_gone(request: Request, exc: Exception) -> Response:
    """A layout's table or column dropped by hand under the daemon: a 503 that says so
    (a reload makes it again), where it was a bare 500 and a traceback."""
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    log.error("%s %s: a layout table is not there: %s", request.method, request.url.path, detail)
    retry = {"Retry-After": str(RETRY_AFTER)}
    if request.url.path.startswith(CONSOLE):
        answer = page(
            request,
            "error.html",
            None,
            503,
            error=Refused(503, "store.table_gone", detail=detail),
        )
        answer.headers.update(retry)
        return answer
    text = message("store.table_gone", context.language(request), detail=detail)
    return JSONResponse({"error": "table_missing", "message": text}, 503, headers=retry)


def _busy(request: Request, exc: Exception) -> Response:
    log.warning("%s %s: the database is busy: %s", request.method, request.url.path, exc)
    retry = {"Retry-After": str(RETRY_AFTER)}
    if request.url.path.startswith(CONSOLE):
        answer = page(
            request, "error.html", None, 503, error=Refused(503, "console.error.store_busy")
        )
        answer.headers.update(retry)
        return answer
    text = message("api.store_busy", context.language(request))
    return JSONResponse({"error": "store_busy", "message": text}, 503, headers=retry)


def install(app: FastAPI) -> None:
    for kind in STORE_DOWN:
        app.add_exception_handler(kind, _store_down)
    app.add_exception_handler(sqlite3.OperationalError, _store_busy)


def describe(schema: dict[str, Any]) -> None:
    """Say the 503 in the OpenAPI document of every API route: each may meet the
    store out of reach, and no route declares that of its own."""
    for path, operations in schema.get("paths", {}).items():
        if path.startswith(_API):
            for operation in operations.values():
                if isinstance(operation, dict):  # not a path's own `parameters`
                    operation.setdefault("responses", {}).setdefault("503", _ANSWER)
