"""A route whose form body is watched to its close delimiter while FastAPI reads it.

FastAPI parses a route's `Form()` parameters before the endpoint runs, and
python-multipart reads a multipart body cut short as the fields it got: a search cut
off mid-body would search for less, or for everything. `WatchedFormRoute` hands FastAPI
the request with its body watched (handlers/formend.BodyEnd), and `form_cut(request)`
tells the endpoint whether the body never closed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from handlers.formend import BodyEnd

_KEY = "renkei.body_end"


class WatchedFormRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handle = super().get_route_handler()

        async def watched(request: Request) -> Response:
            end = BodyEnd(request.headers.get("content-type"))
            request.scope[_KEY] = end
            return await handle(Request(request.scope, end.watching(request.receive)))

        return watched


def form_cut(request: Request) -> bool:
    """Whether the multipart body of this route's request ended before its close
    delimiter (False for a body of any other kind, and outside a WatchedFormRoute)."""
    end = request.scope.get(_KEY)
    return end is not None and not end.reached
