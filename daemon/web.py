"""The HTTP app: health, metrics, and the run history, guarded by bearer tokens.

A FastAPI app served by uvicorn inside the daemon's event loop. Reads through the
store's reader connection; never writes. Built by the master with `create_app()`.
No `from __future__ import annotations` here: FastAPI reads the route annotations at
run time.
"""

import asyncio
import copy
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from daemon.schedule import Schedule, next_checks
from daemon.settings import Settings, secret_matches
from daemon.store import FINAL_STATES, Store, options_text, public_run
from handlers import api as api_intake
from handlers.base import Delivery, IntakeSink, SpoolUnavailable

MAX_LIMIT = 500
MAX_OFFSET = 2**62  # SQLite integers are 64-bit; past this the query itself fails
CSV_CHARSETS = {"cp932": "windows-31j", "utf-8": "utf-8", "utf-8-sig": "utf-8"}


class ErrorBody(BaseModel):
    error: str
    message: str


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the JSON errors a route may answer."""
    return {code: {"model": ErrorBody} for code in codes}


_TEXT: dict[int | str, dict[str, Any]] = {200: {"content": {"text/plain": {}}}}
_CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}
# With ?wait=true, 200, 413 and 422 carry the finished run; without, 413 and 422 an error.
_RUN_OR_ERROR: dict[int | str, dict[str, Any]] = {
    code: {
        "description": "the finished run (with ?wait=true) or an error",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    for code in (200, 413, 422)
}


# The form is read by handlers/api.py (part names may vary per sender), so its shape is
# declared here by hand. Options as further fields or a JSON field `settings` are
# accepted where the account maps them; unmapped ones are a 422.
_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "additionalProperties": False,
                }
            }
        },
    }
}


class ApiError(HTTPException):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, message)
        self.code = code


@dataclass(frozen=True)
class Principal:
    account: str | None  # None: the admin, who sees every account

    def may_see(self, account: str) -> bool:
        return self.account is None or self.account == account


def authenticate(settings: Settings, authorization: str | None) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "missing bearer token")
    token = token.strip()
    if secret_matches(token, settings.api.admin_token, settings.api.admin_token_sha256):
        return Principal(None)
    for name, account in settings.accounts.items():
        if account.api and secret_matches(token, account.api.token, account.api.token_sha256):
            return Principal(name)
    raise ApiError(401, "unauthorized", "unknown token")


def importer_at(settings: Settings, path: str, headers: Mapping[str, str]) -> str:
    """The account a request to its own import path comes from, by its token header.

    Several accounts may share a path; the token picks the account.
    """
    candidates = [
        (name, account.api)
        for name, account in settings.accounts.items()
        if account.api is not None and account.api.path == path
    ]
    if not candidates:
        raise ApiError(404, "not_found", f"no import path {path}")
    presented = False
    for name, api in candidates:
        token = headers.get(api.token_header, "").strip()
        if api.token_header.lower() == "authorization":
            scheme, _, token = token.partition(" ")
            token = token.strip() if scheme.lower() == "bearer" else ""
        if token:
            presented = True
            if secret_matches(token, api.token, api.token_sha256):
                return name
    headers_named = ", ".join(sorted({api.token_header for _, api in candidates}))
    if not presented:
        raise ApiError(401, "unauthorized", f"missing token (header {headers_named})")
    raise ApiError(401, "unauthorized", "unknown token")


def create_app(
    settings: Callable[[], Settings],
    store: Store,
    ready: Callable[[], bool],
    poll: Callable[[str], Awaitable[list[str]]] | None = None,
    sink: IntakeSink | None = None,
) -> FastAPI:
    app = FastAPI(title="renkei", version="0.1.0", summary="CSV linkage daemon")
    replays = Replays()

    def principal(authorization: Annotated[str | None, Header()] = None) -> Principal:
        return authenticate(settings(), authorization)

    Auth = Annotated[Principal, Depends(principal)]

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or {404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "error"
        )
        body = {"error": code, "message": str(exc.detail)}
        return JSONResponse(body, exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        text = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": "invalid_request", "message": text}, 422)

    @app.get("/healthz", responses=_errors(503))
    async def healthz() -> JSONResponse:
        if not ready():
            return JSONResponse({"status": "starting"}, 503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", response_class=Response, responses=_TEXT)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/runs", responses=_errors(401, 422))
    async def list_runs(
        request: Request,
        who: Auth,
        account: str | None = None,
        state: str | None = None,
        channel: str | None = None,
        filename: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> dict[str, Any]:
        if who.account is not None:
            if account not in (None, who.account):
                return {"runs": [], "total": 0, "next": None}
            account = who.account
        filters = {"account": account, "state": state, "channel": channel, "filename": filename}
        rows, total = await store.list_runs(filters, limit, offset)
        following = None
        if offset + len(rows) < total:
            query = {
                k: v for k, v in filters.items() if v is not None and k in request.query_params
            }
            query.update(limit=limit, offset=offset + limit)
            following = f"{request.url.path}?{urlencode(query)}"
        return {"runs": [public_run(r) for r in rows], "total": total, "next": following}

    async def visible_run(run_id: str, who: Principal) -> dict[str, Any]:
        run = await store.get_run(run_id)
        if run is None or not who.may_see(run["account"]):
            raise ApiError(404, "not_found", f"no run {run_id}")
        return run

    @app.get("/api/v1/runs/{run_id}", responses=_errors(401, 404, 422))
    async def get_run(run_id: str, who: Auth) -> dict[str, Any]:
        return public_run(await visible_run(run_id, who))

    @app.get(
        "/api/v1/runs/{run_id}/errors.csv",
        response_model=None,
        responses=_CSV | _errors(401, 404, 422),
    )
    async def run_errors(run_id: str, who: Auth) -> FileResponse:
        run = await visible_run(run_id, who)
        if not run["error_report"]:
            raise ApiError(404, "not_found", f"run {run_id} has no error report")
        path = settings().data_dir / run["error_report"]
        charset = CSV_CHARSETS.get(run["encoding"] or "cp932", "utf-8")
        return FileResponse(path, media_type=f"text/csv; charset={charset}", filename=path.name)

    async def account_view(name: str) -> dict[str, Any]:
        conf = settings()
        account = conf.accounts[name]
        rows, _ = await store.list_runs({"account": name}, 1)
        return {
            "name": name,
            "status": account.status,
            "layout": account.layout,
            "channels": [c for c in ("mail", "ftp", "api", "dropdir") if getattr(account, c)],
            "last_run": public_run(rows[0]) if rows else None,
            "next_checks": account_checks(conf, name),
        }

    @app.get("/api/v1/accounts", responses=_errors(401))
    async def list_accounts(who: Auth) -> dict[str, Any]:
        names = [n for n in settings().accounts if who.may_see(n)]
        return {"accounts": [await account_view(n) for n in names]}

    @app.get("/api/v1/accounts/{name}", responses=_errors(401, 404, 422))
    async def get_account(name: str, who: Auth) -> dict[str, Any]:
        if name not in settings().accounts or not who.may_see(name):
            raise ApiError(404, "not_found", f"no account {name}")
        return await account_view(name)

    @app.post(
        "/api/v1/imports",
        status_code=202,
        responses=_errors(401, 403, 503) | _RUN_OR_ERROR,
        openapi_extra=_IMPORT_BODY,
    )
    async def create_import(
        request: Request, who: Auth, wait: bool = False, dry_run: bool = False
    ) -> JSONResponse:
        """Push one CSV: part `file`, options as fields or a JSON field `settings`."""
        if who.account is None:
            raise ApiError(403, "account_token_required", "import with an account's token")
        return await take(request, who.account, wait, dry_run)

    async def take(request: Request, name: str, wait: bool, dry_run: bool) -> JSONResponse:
        conf = settings()
        account = conf.accounts[name]
        max_bytes = conf.limits_for(account).max_bytes
        delivery = await _read_delivery(request, name, max_bytes, account.api, dry_run)
        delivery.idempotency_key = request.headers.get("Idempotency-Key", "")[:200]
        replay_key = replays.key(delivery)
        # One request of a key at a time from the look-up to the spool: a retry sent
        # before the first was answered must find the first, not spool the file again.
        async with replays.turn(replay_key):
            first = None if dry_run else await replays.find(store, replay_key, delivery)
            if first is None:
                if account.status == "stopped":
                    delivery.data, delivery.problem = None, "account_stopped"
                if sink is None:
                    raise ApiError(503, "spool_unavailable", "intake is not running")
                try:
                    [run_id] = await sink.spool([delivery])
                except SpoolUnavailable:
                    return JSONResponse(
                        {
                            "error": "spool_unavailable",
                            "message": "the spool cannot take files now",
                        },
                        503,
                        headers={"Retry-After": str(RETRY_AFTER)},
                    )
                if not dry_run:
                    replays.remember(replay_key, run_id)
        if first is not None:
            return await _answer(store, first, request, wait, replayed=True)
        return await _answer(store, run_id, request, wait)

    @app.post("/api/v1/accounts/{name}/poll", responses=_errors(401, 404, 409, 422))
    async def poll_account(name: str, request: Request, who: Auth) -> dict[str, Any]:
        conf = settings()
        if name not in conf.accounts or not who.may_see(name):
            raise ApiError(404, "not_found", f"no account {name}")
        account = conf.accounts[name]
        if account.status == "stopped":
            raise ApiError(409, "account_stopped", f"account {name} is stopped")
        if account.ftp is None or poll is None:
            raise ApiError(409, "no_ftp", f"account {name} has no FTP intake to check")
        ids = await poll(name)
        base = str(request.base_url).rstrip("/")
        return {"runs": [{"id": i, "url": f"{base}/api/v1/runs/{i}"} for i in ids]}

    # Last: every route above is matched before an account's own path.
    @app.post("/{path:path}", include_in_schema=False)
    async def import_at_own_path(request: Request) -> JSONResponse:
        """An account's own import path (`[accounts.X.api] path`), in its request shape."""
        conf = settings()
        name = importer_at(conf, request.url.path, request.headers)
        query = request.query_params
        return await take(request, name, _flag(query.get("wait")), _flag(query.get("dry_run")))

    def openapi() -> dict[str, Any]:
        # Not cached: a reload may add or change an account's own import path.
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        generic = schema["paths"]["/api/v1/imports"]["post"]
        for path, api in _own_paths(settings()).items():
            schema["paths"].setdefault(path, {})["post"] = _shaped_operation(generic, path, api)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    return app


RETRY_AFTER = 30
REPLAY_SECONDS = 24 * 3600
WAIT_ERRORS = 20
WAIT_SECONDS = 120
_LIMIT_PROBLEMS = ("file.too_many_rows", "file.too_large")


def _own_paths(settings: Settings) -> dict[str, Any]:
    """Each account's own import path (not the generic one), with its request shape."""
    paths = {}
    for account in settings.accounts.values():
        if account.api is not None and account.api.path != "/api/v1/imports":
            paths.setdefault(account.api.path, account.api)
    return paths


def _shaped_operation(generic: dict[str, Any], path: str, api: Any) -> dict[str, Any]:
    """The generic import operation, in the request shape of `path`'s accounts."""
    operation = copy.deepcopy(generic)
    operation["operationId"] = "import_at_" + "".join(c if c.isalnum() else "_" for c in path)
    operation["summary"] = f"Push one CSV in part `{api.file_field}`"
    queries = [p for p in operation.get("parameters", []) if p["in"] == "query"]
    token = {
        "name": api.token_header,
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
    }
    operation["parameters"] = [*queries, token]
    fields: dict[str, Any] = {api.file_field: {"type": "string", "format": "binary"}}
    fields[api.json_field] = {"type": "string", "description": "parameters as a JSON object"}
    form = {"type": "object", "required": [api.file_field], "properties": fields}
    if api.body == "form-data":
        form["additionalProperties"] = {"type": "string"}
    operation["requestBody"] = {
        "required": True,
        "content": {"multipart/form-data": {"schema": form}},
    }
    return operation


def _flag(value: str | None) -> bool:
    if value is None:
        return False
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ApiError(422, "bad_query", f"{value!r} is not true or false")


async def _read_delivery(
    request: Request, account: str, max_bytes: int, shape: Any, dry_run: bool
) -> Delivery:
    try:
        form = await request.form()
    except Exception as exc:  # python-multipart's errors: the request is unreadable
        raise ApiError(422, "unreadable_request", f"not a readable multipart form: {exc}") from None
    try:
        delivery, _ = api_intake.delivery(account, form, max_bytes, shape, dry_run)
    except api_intake.ApiRefusal as refusal:
        raise ApiError(refusal.status, refusal.code, refusal.message) from None
    finally:
        await form.close()
    return delivery


class Replays:
    """Which run answered a request, so that its retry gets the same answer.

    A request matches an earlier one by its Idempotency-Key, else by account, file name
    and sha256 within 24 hours. Remembered here from the moment the file is spooled
    (the run row comes a moment later) and found in the run history after a restart.
    """

    def __init__(self) -> None:
        self._recent: dict[tuple[str, ...], tuple[str, float]] = {}
        self._turns: dict[tuple[str, ...], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def turn(self, key: tuple[str, ...]) -> AsyncIterator[None]:
        """Hold `key` against requests of the same key (other keys pass freely)."""
        lock, users = self._turns.get(key, (asyncio.Lock(), 0))
        self._turns[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._turns[key]
            if users == 1:
                del self._turns[key]
            else:
                self._turns[key] = (lock, users - 1)

    @staticmethod
    def key(d: Delivery) -> tuple[str, ...]:
        if d.idempotency_key:
            return (d.account, "key", d.idempotency_key)
        digest = hashlib.sha256(d.data if isinstance(d.data, bytes) else b"").hexdigest()
        # The same file with other parameters (register, then delete) is another import.
        return (d.account, "file", d.filename, digest, options_text(d.options))

    def remember(self, key: tuple[str, ...], run_id: str) -> None:
        now = time.monotonic()
        self._recent = {k: v for k, v in self._recent.items() if now - v[1] < REPLAY_SECONDS}
        self._recent[key] = (run_id, now)

    async def find(self, store: Store, key: tuple[str, ...], d: Delivery) -> str | None:
        hit = self._recent.get(key)
        if hit and time.monotonic() - hit[1] < REPLAY_SECONDS:
            return hit[0]
        since = (datetime.now(UTC) - timedelta(seconds=REPLAY_SECONDS)).isoformat()
        digest = key[3] if key[1] == "file" else ""
        options = options_text(d.options)
        run = await store.replayed_run(
            d.account, d.idempotency_key, d.filename, digest, since, options
        )
        return run["id"] if run else None


async def _answer(
    store: Store, run_id: str, request: Request, wait: bool, replayed: bool = False
) -> JSONResponse:
    url = f"{str(request.base_url).rstrip('/')}/api/v1/runs/{run_id}"
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    run = await _finished(store, run_id) if wait else None
    if run is None:
        return JSONResponse({"id": run_id, "url": url}, 202, headers=headers)
    errors = await store.run_errors(run_id, limit=WAIT_ERRORS)
    body = public_run(run) | {
        "url": url,
        "errors": [
            {"line": e.line, "column": e.column, "value": e.value, "message": e.message}
            for e in errors
        ],
    }
    return JSONResponse(body, _status_of(run), headers=headers)


async def _finished(store: Store, run_id: str) -> dict[str, Any] | None:
    """The run once it is final, or None if that takes longer than WAIT_SECONDS."""
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while asyncio.get_running_loop().time() < deadline:
        run = await store.get_run(run_id)
        if run is not None and run["state"] in FINAL_STATES:
            return run
        await asyncio.sleep(0.05)
    return None


def _status_of(run: dict[str, Any]) -> int:
    if run["state"] != "failed":
        return 200
    return 413 if run["problem"] in _LIMIT_PROBLEMS else 422


def account_checks(settings: Settings, name: str, count: int = 5) -> list[str]:
    """The account's next check times, ISO 8601 with offset; [] without FTP intake."""
    ftp = settings.accounts[name].ftp
    if ftp is None:
        return []
    schedule = Schedule.of(ftp, settings.daemon.timezone)
    return [t.isoformat() for t in next_checks(schedule, datetime.now(UTC), count)]
