"""Login, logout and the language switch.

The login form carries a token bound to a random cookie of its own, so no other site
can log a browser in under someone else's name. Failed logins are throttled per
address and name together, and per address (throttle.py); every login, failure and
logout is audited.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import re
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from daemon.console import audit
from daemon.console.access import (
    COOKIE,
    LIFETIME,
    NotLoggedIn,
    Who,
    client_address,
    session_cookie,
    signer,
)
from daemon.console.access import viewer as current_viewer
from daemon.console.render import LANG_COOKIE, checked_form, has_hidden, page, read_form
from daemon.console.throttle import LoginThrottle
from daemon.settings.passwords import hash_password, verify_password
from daemon.spool.queue import now_iso
from daemon.web import context
from importers.messages import LANGUAGES

log = logging.getLogger(__name__)
router = APIRouter()
LOGIN_COOKIE = "renkei_login"
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")  # secrets.token_urlsafe(16) makes 22


@functools.cache
def _dummy_hash() -> str:
    """Checked when the user name is unknown, so an answer takes as long either way.
    Made at the first login, not at start: scrypt is deliberately slow."""
    return hash_password(secrets.token_urlsafe(16))


def _password_ok(password: str, stored: str | None) -> bool:
    return verify_password(password, stored if stored is not None else _dummy_hash())


def _throttle(request: Request) -> LoginThrottle:
    state = request.app.state
    if getattr(state, "console_throttle", None) is None:
        state.console_throttle = LoginThrottle()
    return state.console_throttle


def safe_next(target: str | None) -> str:
    """Where to go after login: a console page of this site, never elsewhere."""
    if target and target.startswith("/console/") and "//" not in target and "\\" not in target:
        return target
    return "/console/"


def _cookie(response: Response, request: Request, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _form(
    request: Request, status: int = 200, error: str = "", user: str = "", target: str = ""
) -> Response:
    """The login form; `target`, the page to go to after (the query's `next` when not
    given: a form answered again keeps the one it was posted with)."""
    # The browser's nonce is kept when it has one: each form shown made a new one, so
    # of two tabs left on the login page (a session expired, a restart) the first one
    # used was refused as expired.
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not _NONCE.fullmatch(nonce):
        nonce = secrets.token_urlsafe(16)
    token = signer(request).token("login", nonce)
    target = safe_next(target or request.query_params.get("next"))
    # A name typed with a control character is not offered again: the field would show
    # "admin\x00" as "admin", a name that was not tried.
    shown = "" if has_hidden(user) else user
    response = page(
        request, "login.html", None, status, token=token, next=target, error=error, user=shown
    )
    _cookie(response, request, LOGIN_COOKIE, nonce, 3600)
    return response


@router.get("/console/login")
async def login_page(request: Request) -> Response:
    try:
        await current_viewer(request)
    except NotLoggedIn:
        return _form(request)
    return RedirectResponse(safe_next(request.query_params.get("next")), 303)


@router.post("/console/login")
async def login(request: Request) -> Response:
    form = await read_form(request, "")  # unread, a broken body names no user
    user = str(form.get("user", ""))[:200]
    password = str(form.get("password", ""))[:1000]
    token = str(form.get("token", ""))
    target = str(form.get("next", ""))
    address = client_address(request)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    throttle = _throttle(request)
    if not signer(request).token_ok("login", nonce, token):
        if throttle.worth_noting(address):
            await audit.record(request, user, "login", "", "refused", audit.detail("form_token"))
        else:
            log.info("console login from %s refused (form token); not audited again", address)
        return _form(request, 403, "console.login.expired", user, target)
    if not throttle.begin(address, user):
        if throttle.worth_noting(address):
            await audit.record(request, user, "login", "", "locked")
        else:
            log.info("console login from %s refused (locked); not audited again", address)
        return _form(request, 429, "console.login.locked", user, target)
    users = context.settings(request).users
    known = users.get(user)
    stored = known.password_hash if known else None
    good = False
    try:
        good = await asyncio.to_thread(_password_ok, password, stored) and known is not None
    finally:
        locked = throttle.end(address, user, good)
    if not good or known is None:
        said = audit.detail("locked") if locked else ""
        await audit.record(request, user, "login", "", "failed", said)
        return _form(request, 401, "console.login.failed", user, target)
    session = secrets.token_urlsafe(32)
    # As now_iso() writes times, so that the store compares them as text.
    expires = (dt.datetime.now(dt.UTC) + LIFETIME).isoformat(timespec="milliseconds")
    await context.store(request).add_session(session, user, address, now_iso(), expires)
    await audit.record(request, user, "login")
    response = RedirectResponse(safe_next(target), 303)
    cookie = session_cookie(request, session, known.password_hash)
    _cookie(response, request, COOKIE, cookie, int(LIFETIME.total_seconds()))
    # The login nonce stays until it expires: another tab's login form, shown before
    # this login, carries a token bound to it (logging in there as well is no harm).
    return response


@router.post("/console/logout")
async def logout(request: Request, who: Who) -> Response:
    await checked_form(request, who)
    await context.store(request).end_session(who.session)
    await audit.record(request, who.name, "logout")
    response = RedirectResponse("/console/login", 303)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("/console/lang/{code}")
async def choose_language(request: Request, code: str) -> Response:
    response = RedirectResponse(safe_next(request.query_params.get("next")), 303)
    if code in LANGUAGES:
        _cookie(response, request, LANG_COOKIE, code, 365 * 86400)
    return response
