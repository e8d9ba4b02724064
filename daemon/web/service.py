"""Open without a token: `/healthz` for load balancers and systemd checks, `/metrics`
for Prometheus."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from daemon.web import context
from daemon.web.errors import responses

router = APIRouter()
_TEXT: dict[int | str, dict] = {200: {"content": {"text/plain": {}}}}


@router.get("/healthz", responses=responses(503))
async def healthz(request: Request) -> JSONResponse:
    if not context.ready(request):
        return JSONResponse({"status": "starting"}, 503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics", response_class=Response, responses=_TEXT)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
