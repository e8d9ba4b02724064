"""Errors of the HTTP API: every one answered as {"error": code, "message": text}.

The code is stable; the text is a sentence of the message catalog (importers/messages.py)
in the language of the request (context.language: `report.language`, or what
`Accept-Language` asks for). Installed on the app by create_app(); raised by the routes
as ApiError, by the HTTP intake as ApiRefusal, by FastAPI as HTTPException or
RequestValidationError.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from daemon.web import context
from handlers.api import ApiRefusal
from handlers.apidocs import ErrorBody
from importers.messages import CATALOG, cut, message

# What starlette and FastAPI raise themselves (no route, wrong method) carries no code;
# any other status they might raise is answered as "error".
_DEFAULT_CODES = {404: "not_found", 405: "method_not_allowed", 400: "unreadable_request"}
# The framework's 400 is a body its form parser could not read (a multipart body without
# its boundary, a malformed one): said in our words, not python-multipart's.
_FRAMEWORK_400 = "api.unreadable_body"
# Validation problems said in words of our own; any other is said as pydantic says it.
_VALIDATION_KEYS = (
    "missing",
    "int_parsing",
    "bool_parsing",
    "greater_than_equal",
    "less_than_equal",
    "datetime_parsing",
    "datetime_from_date_parsing",
    "json_invalid",
    "dict_type",
    "model_type",
    "model_attributes_type",
    "list_type",
    "string_type",
    "int_type",
    "int_from_float",
    "bool_type",
    "float_type",
    "float_parsing",
    "extra_forbidden",
    "string_too_long",
    "too_long",
    "literal_error",
    "enum",
)
# Kinds said alike: an object was wanted.
_SAME_WORDS = {"model_type": "dict_type", "model_attributes_type": "dict_type"}


class ApiError(ApiRefusal):
    """A refusal of the admin API's routes: a stable code and a catalog sentence."""


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the JSON errors a route may answer."""
    return {code: {"model": ErrorBody} for code in codes}


# Set by the console (daemon/console/app.py): how its pages say an error, as a page.
ConsoleError = Callable[[Request, int, str, dict[str, Any]], Awaitable[Response]]
CONSOLE = "/console/"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = getattr(exc, "code", None) or _DEFAULT_CODES.get(exc.status_code, "error")
    key, params = _sentence(request, exc, code)
    headers = getattr(exc, "headers", None)
    console: ConsoleError | None = getattr(request.app.state, "console_error", None)
    if console is not None and request.url.path.startswith(CONSOLE):
        # A browser's form the framework could not read (a broken multipart body), a
        # wrong method: the console's own error page, never the API's JSON.
        answer = await console(request, exc.status_code, key, params)
        answer.headers.update(headers or {})
        return answer
    body = {"error": code, "message": message(key, context.language(request), **params)}
    return JSONResponse(body, exc.status_code, headers=headers)


def _sentence(request: Request, exc: HTTPException, code: str) -> tuple[str, dict[str, Any]]:
    """The catalog key and parameters that say what is wrong."""
    if isinstance(exc, ApiRefusal):
        return exc.key, exc.params
    if exc.status_code == 400:
        return _FRAMEWORK_400, {"type": request.headers.get("content-type", "")[:100]}
    key = f"api.{code}" if f"api.{code}" in CATALOG else "api.error"
    where = {"path": request.url.path, "method": request.method}
    return key, {"status": exc.status_code, "detail": exc.detail, **where}


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    language = context.language(request)
    problems = "; ".join(_problem(e, language) for e in exc.errors())
    text = message("api.invalid_request", language, problems=problems)
    return JSONResponse({"error": "invalid_request", "message": text}, 422)


def _problem(error: dict[str, Any], language: str) -> str:
    """One validation problem: where (`query.limit`), the value and what is wrong."""
    kind = error["type"] if error["type"] in _VALIDATION_KEYS else "other"
    kind = _SAME_WORDS.get(kind, kind)
    loc = error["loc"]
    if kind == "json_invalid":
        # FastAPI's loc is ("body", position); the parser's words stay out of the text.
        loc = loc[:1]
    where = ".".join(str(part) for part in loc)
    ctx = error.get("ctx") or {}
    limit = ctx.get("ge", ctx.get("le", ctx.get("max_length")))
    given = error.get("input")
    # As the client wrote it: JSON's null and true, not Python's None and True.
    shown = json.dumps(given) if given is None or isinstance(given, bool) else repr(given)
    value = cut(shown)
    expected = ctx.get("expected", "")
    return message(
        f"api.invalid.{kind}",
        language,
        where=where,
        value=value,
        limit=limit,
        expected=expected,
        detail=error["msg"],
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
