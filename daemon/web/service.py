"""Open without a token: `/healthz` for load balancers and systemd checks, `/metrics`
for Prometheus."""

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from daemon.metrics import make_all
from daemon.web import context
from daemon.web.errors import responses

log = logging.getLogger(__name__)
router = APIRouter()
_PING_SECONDS = 3.0
_TEXT: dict[int | str, dict] = {200: {"content": {"text/plain": {}}}}


# HEAD too: a load balancer's health check may ask for the status line alone.
@router.api_route("/healthz", methods=["GET", "HEAD"], responses=responses(503))
async def healthz(request: Request) -> JSONResponse:
    if not context.ready(request):
        return JSONResponse({"status": "starting"}, 503)
    try:
        await asyncio.wait_for(context.store(request).ping(), _PING_SECONDS)
    except Exception as exc:  # unreachable, refusing, too slow: take no traffic here
        log.warning("healthz: the store does not answer: %s", str(exc) or type(exc).__name__)
        return JSONResponse({"status": "store_unreachable"}, 503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics", response_class=Response, responses=_TEXT)
async def metrics() -> Response:
    make_all()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
