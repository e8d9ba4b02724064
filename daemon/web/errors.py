"""Errors of the HTTP API: every one answered as {"error": code, "message": text}.

Installed on the app by create_app(); raised by the routes as ApiError, by the HTTP
intake as ApiRefusal, by FastAPI as HTTPException or RequestValidationError.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from handlers.api import ErrorBody

_DEFAULT_CODES = {404: "not_found", 405: "method_not_allowed"}


class ApiError(HTTPException):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, message)
        self.code = code


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the JSON errors a route may answer."""
    return {code: {"model": ErrorBody} for code in codes}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = getattr(exc, "code", None) or _DEFAULT_CODES.get(exc.status_code, "error")
    body = {"error": code, "message": str(exc.detail)}
    return JSONResponse(body, exc.status_code, headers=getattr(exc, "headers", None))


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    text = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return JSONResponse({"error": "invalid_request", "message": text}, 422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
