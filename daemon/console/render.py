"""Pages of the console: Jinja2 templates rendered in the user's language.

The language is `report.language` unless the user chose the other one (a cookie, set
from the link in every page's footer); every word comes from the one catalog
(importers/messages.py). Times are shown in `daemon.timezone`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.datastructures import FormData

from daemon.console import audit
from daemon.console.access import Refused, Viewer, signer
from daemon.web import context
from importers.messages import CATALOG, LANGUAGES, message

LANG_COOKIE = "renkei_lang"
TEMPLATES = Path(__file__).parent / "templates"
# Nothing from elsewhere, nothing inline: a page can run only the scripts we ship.
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def language(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE, "")
    return chosen if chosen in LANGUAGES else context.settings(request).report.language


def page(
    request: Request,
    template: str,
    who: Viewer | None,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    lang = language(request)
    zone = ZoneInfo(context.settings(request).daemon.timezone)

    def t(key: str, **params: Any) -> str:
        return message(key, lang, **params)

    def has(key: str) -> bool:
        return key in CATALOG

    def local(stamp: str | None, seconds: bool = True) -> str:
        if not stamp:
            return ""
        moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(zone).strftime(
            "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
        )

    def query(**changes: Any) -> str:
        """The current query string with `changes` (None removes a key)."""
        params = dict(request.query_params)
        for key, value in changes.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = str(value)
        return urlencode(params)

    notice = request.query_params.get("notice", "")
    body = _env.get_template(template).render(
        t=t,
        has=has,
        lang=lang,
        who=who,
        csrf=signer(request).token("csrf", who.session) if who else "",
        local=local,
        query=query,
        path=request.url.path,
        full_path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        notice=notice if f"console.notice.{notice}" in CATALOG else "",
        **values,
    )
    return HTMLResponse(body, status, headers=HEADERS)


def offset_param(request: Request, name: str = "offset") -> int:
    """A page's offset from the query string; anything but a plain number is 0."""
    text = request.query_params.get(name, "0")
    return int(text) if text.isdigit() and len(text) < 12 else 0


def last_page_offset(total: int, size: int) -> int:
    """Where the last page of `total` items, `size` to a page, starts (0 for none)."""
    return (max(total, 1) - 1) // size * size


async def checked_form(request: Request, who: Viewer) -> FormData:
    """The form of a POST, once its CSRF token is the session's; else 403 (audited)."""
    form = await request.form()
    token = form.get("csrf") or request.headers.get("x-csrf-token", "")
    if not isinstance(token, str) or not signer(request).token_ok("csrf", who.session, token):
        await audit.record(request, who.name, "csrf_refused", request.url.path, "refused")
        raise Refused(403, "console.error.csrf")
    return form
