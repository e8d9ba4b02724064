"""The HTTP app: the admin API, health and metrics, and the HTTP intake mounted in it.

A FastAPI app served by uvicorn inside the daemon's event loop. Routers of one job
each (service, runs, accounts, the intake in handlers/api.py); what they need from the
daemon waits on `app.state` (context.py). Built by the master with `create_app()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from daemon import console
from daemon.settings import Settings
from daemon.settings.switches import Switches
from daemon.store.base import Store
from daemon.web import (
    accounts,
    errors,
    fallback,
    records,
    refusals,
    runs,
    sends,
    service,
    unreachable,
)
from daemon.web.context import Poll, Retry, Switch
from handlers import api as api_intake
from handlers.apidocs import describe_own_paths
from handlers.base import IntakeSink

if TYPE_CHECKING:
    from daemon.outward.triggers import Outward
    from daemon.report.outbox import RelayDown


def create_app(
    settings: Callable[[], Settings],
    store: Store,
    ready: Callable[[], bool],
    poll: Poll | None = None,
    sink: IntakeSink | None = None,
    retry: Retry | None = None,
    switches: Switches | None = None,
    switch: Switch | None = None,
    outward: Outward | None = None,
    relay_down: Callable[[], RelayDown | None] | None = None,
) -> FastAPI:
    app = FastAPI(title="renkei", version="0.1.0", summary="CSV linkage daemon")
    app.state.settings = settings
    app.state.store = store
    app.state.ready = ready
    app.state.poll = poll
    app.state.sink = sink
    app.state.retry = retry
    app.state.switches = switches
    app.state.switch = switch
    app.state.outward = outward
    app.state.relay_down = relay_down
    errors.install(app)
    unreachable.install(app)
    app.add_middleware(fallback.HeadAsGet)
    # The import route first: the route partners call most, matched before every
    # other route is tried, the console's too (no other takes POST /api/v1/imports).
    app.include_router(api_intake.router)
    console.install(app)
    routers = (
        service.router,
        runs.router,
        accounts.router,
        sends.router,
        refusals.router,
        records.router,
    )
    for router in routers:
        app.include_router(router)
    # Last: every route above is matched before an account's own path.
    app.add_api_route(
        "/{path:path}", fallback.last_route, methods=fallback.METHODS, include_in_schema=False
    )

    def openapi() -> dict[str, Any]:
        # Not cached: a reload may add or change an account's own import path.
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        describe_own_paths(schema, settings())
        unreachable.describe(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
