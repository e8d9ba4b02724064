"""API intake. Takes a multipart import request end to end — token, form, parameters,
spooling, the answer and `?wait` — and never parses CSV.

Each account's request shape comes from its `[accounts.X.api]` table: the path, the
header that carries the token, the part that holds the CSV, and whether parameters
arrive as form fields (`form-data`) or JSON-encoded in one field (`json`). Parameters
mean only what the account's `params` mapping says: a parameter or value the mapping
does not name is refused with 422 naming it, whether it came as a form field, a query
parameter or a key of the JSON field, and so is one given twice with two values. A
file name is read as the other doors read names (UTF-8, else CP932). What the shape
decides for the file (encoding, header) travels in the delivery's options, so nothing
after the spool asks which channel a file came by. Every refusal is told to the sink
(`_door`), which logs, counts and keeps it. Talks to the daemon only through the
intake sink; the web app (daemon/web/) mounts `router` and serves the rest of the
API. No `from __future__ import annotations` here: FastAPI reads the route
annotations at run time.
"""

import asyncio
import contextlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, QueryParams, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Message

from daemon.settings import ApiAccount, ParamEffect, Settings, secret_matches
from handlers.apidocs import GENERIC_PATH, IMPORT_BODY, RESPONSES
from handlers.base import (
    Delivery,
    IntakeSink,
    Refusal,
    RunReport,
    SpoolUnavailable,
    bare_name,
    bearer_token,
    bounded_key,
    peer_text,
    readable,
)
from handlers.formend import whole_form

CHANNEL = "api"
WILDCARD = "*"
FLAGS = ("wait", "dry_run")  # query parameters of renkei's own, never an import option
DEFAULT_SHAPE = ApiAccount()
RETRY_AFTER = 30
# What a request may carry beside a file of max_bytes: the multipart framing and the
# parameter fields. A body larger than both cannot hold a file within the limit.
FORM_ROOM = 1024 * 1024
WAIT_ERRORS = 20
WAIT_SECONDS = 120
# What the HTTP server (daemon/web/deadline.py) puts in a request's ASGI scope: a future
# resolved once the server begins to stop, and the seconds a body stayed silent when it
# was cut off for time.
STOPPING = "renkei.stopping"
TIMED_OUT = "renkei.timed_out"

router = APIRouter()


class ApiRefusal(HTTPException):
    """A request the door refuses: its status, a stable code, and what is wrong as a
    sentence of the message catalog — `key` (default `api.<code>`) with `params` — that
    the web app's error handler (daemon/web/errors.py) says in the daemon's language.
    The handler, not the door, renders it: channels never import the catalog."""

    def __init__(
        self,
        status: int,
        code: str,
        key: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **params: object,
    ) -> None:
        super().__init__(status, code, headers=headers)
        self.code = code
        self.key = key or f"api.{code}"
        self.params = params
        self.cause = ""  # why, for the refusal's record and the log (not the client)


@router.post(GENERIC_PATH, status_code=202, responses=RESPONSES, openapi_extra=IMPORT_BODY)
async def create_import(request: Request) -> JSONResponse:
    """Push one CSV: part `file`, options as fields or a JSON field `settings`."""
    settings = _settings(request)
    with _door(request) as door:
        door.who = _bearer_account(settings, request.headers.get("authorization"))
        return await _take_flagged(request, door, settings)


async def import_at_own_path(request: Request) -> JSONResponse:
    """An account's own import path (`[accounts.X.api] path`), in its request shape.
    Mounted last by the web app, so every route of its own is matched first."""
    settings = _settings(request)
    with _door(request) as door:
        door.who = importer_at(settings, request.url.path, request.headers)
        return await _take_flagged(request, door, settings)


@dataclass(slots=True)
class Door:
    """What a refusal of one request names: the account, once its token is known, and
    the file, once the form is read (the request path until then)."""

    who: str = ""
    what: str = ""


# A refusal is counted under its error code, but for these finer ones.
_REASONS = {
    "api.unauthorized.missing": "no_token",
    "api.unauthorized.missing_header": "no_token",
    "api.unauthorized.unknown": "bad_token",
    "api.not_found.import_path": "unknown_path",
    "api.spool_unavailable.low_space": "low_space",
    "api.request_timeout": "timeout",  # as mail's: nothing read for the door's time limit
}


@contextlib.contextmanager
def _door(request: Request) -> Iterator[Door]:
    """Tell the sink of any refusal of this request on its way to the client."""
    door = Door(what=request.url.path)
    try:
        yield door
    except ApiRefusal as refusal:
        sink: IntakeSink | None = request.app.state.sink
        if sink is not None:
            sink.refused(_refusal(request, door, refusal, sink))
        raise


def _refusal(request: Request, door: Door, refusal: ApiRefusal, sink: IntakeSink) -> Refusal:
    client = request.client
    peer = peer_text((client.host, client.port)) if client else ""
    reason = _REASONS.get(refusal.key, refusal.code)
    # The sentence the client got, in English; no parameter of it holds a token.
    detail = sink.text(refusal.key, "en", **refusal.params)
    if refusal.cause:
        detail = f"{detail}: {refusal.cause}"
    return Refusal(CHANNEL, peer, str(refusal.status_code), reason, door.who, door.what, detail)


async def take(
    request: Request, door: Door, settings: Settings, wait: bool, dry_run: bool
) -> JSONResponse:
    sink: IntakeSink | None = request.app.state.sink
    name = door.who
    account = settings.accounts[name]
    max_bytes = settings.limits_for(account).max_bytes
    if sink is not None and not sink.has_room():
        # As mail's 452: the disk under daemon.min_free_bytes, try again later.
        retry = {"Retry-After": str(RETRY_AFTER)}
        raise ApiRefusal(503, "spool_unavailable", "api.spool_unavailable.low_space", headers=retry)
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes + FORM_ROOM:
        # Said before the body is read: reading it all first took a second per 300 MB.
        raise ApiRefusal(413, "too_large", limit=max_bytes)
    bounded = _bounded(request, max_bytes)
    delivery = await _read_delivery(bounded, door, max_bytes, account.api, dry_run)
    delivery.idempotency_key = bounded_key(request.headers.get("Idempotency-Key", ""))
    if account.status == "stopped":
        delivery.data, delivery.problem = None, "account_stopped"
    if sink is None:
        raise ApiRefusal(503, "spool_unavailable", "api.spool_unavailable.not_running")
    try:
        receipt = await sink.spool([delivery])
    except SpoolUnavailable as exc:
        retry = {"Retry-After": str(RETRY_AFTER)}
        refusal = ApiRefusal(503, "spool_unavailable", headers=retry)
        refusal.cause = str(exc)  # the store's or the disk's trouble, as mail's 451 says it
        raise refusal from None
    [run_id] = receipt.ids
    report = await _waited(request, sink, run_id) if wait else None
    return _answer(request, run_id, report, receipt.replayed)


async def _waited(request: Request, sink: IntakeSink, run_id: str) -> RunReport | None:
    """The run once final, or None (answered as without `wait`) once the server begins
    to stop: the file is spooled and its run imported at the next start, while a wait
    kept through the stop held it up, then was cancelled into a 500."""
    loop = asyncio.get_running_loop()
    stopping: asyncio.Future[None] = request.scope.setdefault(STOPPING, loop.create_future())
    waiting = asyncio.ensure_future(sink.finished(run_id, WAIT_SECONDS, WAIT_ERRORS))
    # finished() answers None when cancelled, so the request still gets its 202.
    stopping.add_done_callback(lambda _: waiting.cancel())
    return await waiting


async def _take_flagged(request: Request, door: Door, settings: Settings) -> JSONResponse:
    query = request.query_params
    wait, dry_run = _flag(query, "wait"), _flag(query, "dry_run")
    return await take(request, door, settings, wait, dry_run)


def _bounded(request: Request, max_bytes: int) -> Request:
    """The request, its body refused with 413 once it passes what a file of max_bytes
    and its form can take. A chunked body says no Content-Length to check first; read
    whole, a client could make the parser write gigabytes to temporary files."""
    receive = request.receive
    seen = 0

    async def bounded_receive() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > max_bytes + FORM_ROOM:
            raise ApiRefusal(413, "too_large", limit=max_bytes)
        return message

    return Request(request.scope, bounded_receive)


def _answer(
    request: Request, run_id: str, report: RunReport | None, replayed: bool
) -> JSONResponse:
    url = f"{str(request.base_url).rstrip('/')}/api/v1/runs/{run_id}"
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    if report is None:
        return JSONResponse({"id": run_id, "url": url}, 202, headers=headers)
    body = report.run | {"url": url, "errors": report.errors}
    status = 422 if report.failed else 200
    if report.failed and report.over_limit:
        status = 413
    return JSONResponse(body, status, headers=headers)


def _settings(request: Request) -> Settings:
    return request.app.state.settings()


def _bearer_account(settings: Settings, authorization: str | None) -> str:
    token = bearer_token(authorization)
    if not token:
        raise ApiRefusal(401, "unauthorized", "api.unauthorized.missing")
    if settings.is_admin_token(token):
        raise ApiRefusal(403, "account_token_required")
    name = settings.token_account(token)
    if name is None:
        raise ApiRefusal(401, "unauthorized", "api.unauthorized.unknown")
    return name


def importer_at(settings: Settings, path: str, headers: Mapping[str, str]) -> str:
    """The account a request to its own import path comes from, by its token header.

    Several accounts may share a path; the token picks the account. The admin token
    is refused as on the generic path: it may see every run, but imports as no one.
    """
    candidates = [
        (name, account.api)
        for name, account in settings.accounts.items()
        if account.api is not None and account.api.path == path
    ]
    if not candidates:
        raise ApiRefusal(404, "not_found", "api.not_found.import_path", path=path)
    presented = False
    for name, api in candidates:
        token = headers.get(api.token_header, "").strip()
        if api.token_header.lower() == "authorization":
            token = bearer_token(token)
        if token:
            presented = True
            if settings.is_admin_token(token):
                raise ApiRefusal(403, "account_token_required")
            if secret_matches(token, api.token, api.token_sha256):
                return name
    named = ", ".join(sorted({api.token_header for _, api in candidates}))
    if not presented:
        raise ApiRefusal(401, "unauthorized", "api.unauthorized.missing_header", header=named)
    raise ApiRefusal(401, "unauthorized", "api.unauthorized.unknown")


def _flag(query: QueryParams, name: str) -> bool:
    """A flag of the query, False when not given. A bare `?dry_run` is no yes or no,
    and `?dry_run=1&dry_run=0` neither: each taken as one meant a real import."""
    given = query.getlist(name)
    if not given:
        return False
    said = {_yes_or_no(name, value) for value in given}
    if len(said) > 1:
        values = ", ".join(map(repr, given))
        raise ApiRefusal(422, "bad_query", "api.bad_query.twice", name=name, values=values)
    return said.pop()


def _yes_or_no(name: str, value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ApiRefusal(422, "bad_query", name=name, value=repr(value))


async def _read_delivery(
    request: Request, door: Door, max_bytes: int, shape: ApiAccount | None, dry_run: bool
) -> Delivery:
    form = await _form(request)
    try:
        taken = delivery(door.who, form, request.query_params, max_bytes, shape, dry_run)
    except ApiRefusal:
        upload = form.get((shape or DEFAULT_SHAPE).file_field)
        if isinstance(upload, UploadFile) and (sent := sent_name(upload)):
            door.what = bare_name(sent)
        raise
    finally:
        await form.close()
    door.what = taken.filename
    return taken


async def _form(request: Request) -> FormData:
    """The request's form, read whole, or 422 `unreadable_request` saying why not."""
    coding = request.headers.get("Content-Encoding", "identity").strip()
    if coding.lower() not in ("", "identity"):
        # Read as it came, a compressed body is bytes the parser fails on at its first.
        raise ApiRefusal(
            422, "unreadable_request", "api.unreadable_request.encoded", coding=repr(coding[:50])
        )
    try:
        form, closed = await whole_form(request)
    except ApiRefusal:
        raise
    except ClientDisconnect:  # refused and counted, as one cut short, with its cause
        if (seconds := request.scope.get(TIMED_OUT)) is not None:
            # Answered 408 by the server, which closed the connection for time.
            raise ApiRefusal(408, "request_timeout", seconds=seconds) from None
        raise ApiRefusal(422, "unreadable_request", "api.unreadable_request.gone") from None
    except Exception as exc:  # python-multipart's errors: the request is unreadable
        key, params = _unreadable(str(exc), str(exc.__cause__ or ""))
        refusal = ApiRefusal(422, "unreadable_request", key, **params)
        refusal.cause = str(exc.__cause__ or exc)  # the parser's English: the log's only
        raise refusal from None
    if not closed:
        await form.close()
        raise ApiRefusal(422, "unreadable_request", "api.unreadable_request.truncated")
    return form


# The multipart parsers' own sentences (starlette.formparsers, python-multipart), in
# English: each said from the catalog instead, its number kept.
_PARSER_SAYS = (
    (re.compile(r"Too many fields\. Maximum number of fields is (\d+)\."), "too_many_fields"),
    (re.compile(r"Too many files\. Maximum number of files is (\d+)\."), "too_many_files"),
    (re.compile(r"(?:Field|Part) exceeded maximum size of (\d+)KB\."), "part_too_large"),
    (re.compile(r'The Content-Disposition header field "name" must be provided\.'), "no_name"),
    (re.compile(r"Missing boundary in multipart\."), "no_boundary"),
)
# What python-multipart says under starlette's "Invalid multipart data.", by its start.
_MULTIPART_SAYS = (
    ("Maximum header size exceeded", "header_too_long"),
    ("Maximum header count exceeded", "too_many_headers"),
    ("Expected boundary character", "bad_boundary"),
    ("Did not find CR at end of boundary", "bad_boundary"),
    ("Did not find LF at end of boundary", "bad_boundary"),
    ("Did not find - at end of boundary", "bad_boundary"),
    ("Did not find CRLF after boundary padding", "bad_boundary"),
    ("Boundary length", "bad_boundary"),
)


def _unreadable(said: str, cause: str = "") -> tuple[str, dict[str, object]]:
    """The catalog's sentence for what the multipart parser said (starlette's words,
    or python-multipart's beneath them); a general one for anything else, whose
    English stays in the log."""
    for pattern, name in _PARSER_SAYS:
        if found := pattern.fullmatch(said):
            return f"api.unreadable_request.{name}", {"n": found.group(1) if found.groups() else ""}
    for start, name in _MULTIPART_SAYS:
        if cause.startswith(start):
            return f"api.unreadable_request.{name}", {}
    return "api.unreadable_request.malformed", {}


def delivery(
    account: str,
    form: FormData,
    query: QueryParams,
    max_bytes: int,
    shape: ApiAccount | None = None,
    dry_run: bool = False,
) -> Delivery:
    """The Delivery for a parsed multipart form, or ApiRefusal saying what is wrong."""
    shape = shape or DEFAULT_SHAPE
    given = form.getlist(shape.file_field)
    if len(given) > 1 and any(isinstance(value, str) for value in given):
        # A text field under the file's part name too: said as such, where "2 files"
        # or "no file name" was said of whichever of the two came last.
        raise ApiRefusal(
            422, "unexpected_file", "api.unexpected_file.text_too", part=shape.file_field
        )
    upload = form.get(shape.file_field)
    if isinstance(upload, str):
        # The part is there, but as a field: its Content-Disposition names no filename
        # (or only filename*, which RFC 7578 forbids in a form and the parser ignores).
        raise ApiRefusal(422, "missing_file", "api.missing_file.no_name", part=shape.file_field)
    if upload is None:
        files = [k for k, v in form.multi_items() if not isinstance(v, str)]
        key = "api.missing_file.others" if files else None
        raise ApiRefusal(422, "missing_file", key, part=shape.file_field, files=", ".join(files))
    sent = sent_name(upload)
    name = bare_name(sent)
    if _nameless(sent, name):
        # filename="", ".", "/": no name to take the file under, as none at all.
        raise ApiRefusal(422, "missing_file", "api.missing_file.no_name", part=shape.file_field)
    if (count := len(form.getlist(shape.file_field))) > 1:
        # One file is one run: taking one of them would drop the others unsaid.
        raise ApiRefusal(
            422,
            "unexpected_file",
            "api.unexpected_file.repeated",
            part=shape.file_field,
            count=count,
        )
    options = map_params(parameters(form, query, shape), shape.params)
    options.update(file_options(shape))
    if dry_run:
        options["dry_run"] = True
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiRefusal(413, "too_large", limit=max_bytes)
    return Delivery(account, CHANNEL, account, name, data, options=options, by_content=True)


def sent_name(upload: UploadFile) -> str:
    """The file name as the sender wrote it. The parser decodes a name that is no UTF-8
    as latin-1, so a CP932 name (as Windows and Japanese senders write it) arrives as
    mojibake, and two names can become one; read from the part's raw header, it is
    decoded as the other doors decode names (UTF-8, else CP932)."""
    for field, value in upload.headers.raw:
        if field.lower() == b"content-disposition":
            raw = parse_options_header(value)[1].get(b"filename")
            if raw is not None:
                return readable(raw)
    return upload.filename or ""


def _nameless(sent: str, name: str) -> bool:
    """Whether a sent name came to no name at all: bare_name() then answers its
    stand-in `unnamed`, which a name of that very text does not come from."""
    last = sent.replace("\\", "/").rsplit("/", 1)[-1]
    return name == "unnamed" and "unnamed" not in last


def file_options(shape: ApiAccount) -> dict[str, Any]:
    """What the request shape decides for the file, overriding the account's own."""
    options: dict[str, Any] = {}
    if shape.encoding is not None:
        options["encoding"] = shape.encoding
    if shape.header is not None:
        options["header"] = shape.header
    return options


def parameters(form: FormData, query: QueryParams, shape: ApiAccount) -> dict[str, str]:
    """The request's parameters as text: form fields, query parameters (renkei's own
    flags aside) and the keys of the JSON field, in whichever body shape."""
    given: list[tuple[str, str]] = []
    for key, value in form.multi_items():
        if key in (shape.file_field, shape.json_field):
            continue
        if not isinstance(value, str):
            raise ApiRefusal(422, "unexpected_file", part=key)
        given.append((key, value))
    given += [(k, v) for k, v in query.multi_items() if k not in FLAGS]
    for raw in form.getlist(shape.json_field):
        given += _json_params(raw, shape.json_field)
    return _once_each(given)


def _once_each(given: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Each parameter's value. One given twice (query and form, two JSON fields) must
    say the same both times: which of two values the sender meant is not ours to pick."""
    params: dict[str, str] = {}
    for name, value in given:
        if params.setdefault(name, value) != value:
            values = f"{params[name]!r}, {value!r}"
            raise ApiRefusal(
                422,
                "bad_parameter_value",
                "api.bad_parameter_value.twice",
                name=name,
                values=values,
            )
    return params


class _Pairs(list):
    """A JSON object as the key-value pairs it was written with: read into a dict, a
    key given twice kept its last value unsaid, as no other way of giving one does."""


def _json_params(raw: object, field: str) -> list[tuple[str, str]]:
    if raw is None:
        return []
    if isinstance(raw, UploadFile):
        # A browser's FormData.append(field, new Blob([json])) sends it as a file part
        # (filename="blob", application/json): its bytes are the same JSON.
        data = raw.file.read(_JSON_PART_BYTES + 1)
        if len(data) > _JSON_PART_BYTES:
            raise ApiRefusal(422, "bad_settings", "api.bad_settings.not_text", field=field)
        raw = readable(data)
    if not isinstance(raw, str):
        raise ApiRefusal(422, "bad_settings", "api.bad_settings.not_text", field=field)
    try:
        parsed = json.loads(raw, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as exc:
        raise ApiRefusal(
            422,
            "bad_settings",
            "api.bad_settings.not_json",
            field=field,
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except RecursionError:  # nested past the parser's depth
        raise ApiRefusal(422, "bad_settings", "api.bad_settings.too_deep", field=field) from None
    if not isinstance(parsed, _Pairs):
        raise ApiRefusal(422, "bad_settings", "api.bad_settings.not_object", field=field)
    params = []
    for key, value in parsed:
        if isinstance(value, list):  # an object (as _Pairs) or an array
            raise ApiRefusal(422, "bad_settings", "api.bad_settings.not_plain", name=key)
        params.append((key, value if isinstance(value, str) else json.dumps(value)))
    return params


NAMES_SHOWN = 20
# A JSON field sent as a file part: settings, not a file; past this it is neither.
_JSON_PART_BYTES = 1 << 20


def _listed(names: list[str]) -> str:
    """`names` for a message: a request of a thousand fields, or of one with a name of
    a megabyte, made an answer (and a log line) of that size."""
    shown = [name if len(name) <= 50 else name[:50] + "…" for name in names[:NAMES_SHOWN]]
    more = len(names) - NAMES_SHOWN
    return ", ".join(shown) + (f", … (+{more})" if more > 0 else "")


def map_params(
    params: Mapping[str, str], mapping: Mapping[str, Mapping[str, ParamEffect]]
) -> dict[str, Any]:
    """The import options the parameters choose, by the account's mapping."""
    unknown = sorted(set(params) - set(mapping))
    if unknown:
        raise ApiRefusal(422, "unknown_parameter", names=_listed(unknown))
    options: dict[str, Any] = {}
    for name, value in params.items():
        values = mapping[name]
        effect = values.get(value, values.get(WILDCARD))
        if effect is None:
            raise ApiRefusal(
                422, "bad_parameter_value", name=name, value=repr(value), allowed=", ".join(values)
            )
        options.update(effect.model_dump(exclude_none=True))
    return options
