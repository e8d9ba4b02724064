"""Pages of the console: Jinja2 templates rendered in the user's language.

The language is `report.language` unless the user chose the other one (a cookie, set
from the link in every page's footer); every word comes from the one catalog
(importers/messages.py). Times are shown in `daemon.timezone`.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect

from daemon.console import audit
from daemon.console.access import Refused, Viewer, signer
from daemon.web import context
from handlers.formend import whole_form
from importers.messages import CATALOG, LANGUAGES, Words, cut, message, said

LANG_COOKIE = "renkei_lang"
TEMPLATES = Path(__file__).parent / "templates"
# Query parameters an action's redirect adds for the page it lands on, said once: a
# pager's or a filter's link leaves them behind.
ONE_TIME = ("notice", "taken")
# The POST-only actions, each with the page it belongs to: where a reload, a bookmark
# or the language link of an action's answer goes, since a GET may repeat no action.
ACTION_PAGES = {
    "/console/accounts/{name}/upload": "/console/accounts/{name}",
    "/console/accounts/{name}/upload/confirm": "/console/accounts/{name}",
    "/console/accounts/{name}/poll": "/console/accounts/{name}",
    "/console/accounts/{name}/status": "/console/accounts/{name}",
    "/console/runs/{run_id}/retry": "/console/runs/{run_id}",
    "/console/runs/{run_id}/undo": "/console/runs/{run_id}",
    "/console/logout": "/console/",
}
# The console's urlencoded forms hold a few short fields: a body larger than this is
# not one of them, and is not read into memory to find that out.
URLENCODED_MAX = 64 * 1024
# Characters that show as nothing, or move the text around them: in text from outside
# (a user name typed at the login, a file name) they are shown by their code point.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})
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


def visible(text: object) -> Markup:
    """`text` escaped, each control or format character shown as its code point
    (U+0000), so that "admin\\x00" never looks like "admin"."""
    return Markup("").join(
        Markup('<span class="ctl">U+{:04X}</span>').format(ord(char))
        if unicodedata.category(char) in _HIDDEN
        else escape(char)
        for char in str(text)
    )


def has_hidden(text: str) -> bool:
    return any(unicodedata.category(char) in _HIDDEN for char in text)


def get_page(request: Request) -> str:
    """The page a request's answer stands for: its own path for a GET of a page, the
    page of the action for an action (POST, or a GET of its path), else the top."""
    route = getattr(request.scope.get("route"), "path", "")
    if request.method in ("GET", "HEAD") and route not in ACTION_PAGES:
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    params = {k: quote(str(v), safe="") for k, v in request.path_params.items()}
    return ACTION_PAGES.get(route, "/console/").format_map(params)


_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["visible"] = visible


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

    def say(words: Words | None, text: str) -> str:
        """A stored sentence in the page's language, when its words were kept."""
        return said(words, text, lang)

    def short(value: object) -> str:
        """A cell's value as a sentence quotes it (…(全5,000文字)): a page shows the
        whole of a long one only on demand."""
        shown = cut("" if value is None else value)
        return shown.say(lang) if isinstance(shown, Words) else shown

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
        """The current query string with `changes` (None removes a key), less the
        parameters meant for one showing (ONE_TIME)."""
        params = {k: v for k, v in request.query_params.items() if k not in ONE_TIME}
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
        say=say,
        short=short,
        lang=lang,
        who=who,
        csrf=signer(request).token("csrf", who.session) if who else "",
        local=local,
        query=query,
        path=request.url.path,
        full_path=get_page(request),
        notice=notice if f"console.notice.{notice}" in CATALOG else "",
        notice_params=_notice_params(request),
        **values,
    )
    return HTMLResponse(body, status, headers=HEADERS)


def _notice_params(request: Request) -> dict[str, int]:
    """What a notice counts (`taken`: the files a check found); a notice whose count
    is missing or not a number says it as none."""
    return {"taken": offset_param(request, "taken")}


def offset_param(request: Request, name: str = "offset") -> int:
    """A page's offset (or another count) from the query string; anything but a plain
    number is 0."""
    text = request.query_params.get(name, "0")
    return int(text) if text.isdigit() and len(text) < 12 else 0


def last_page_offset(total: int, size: int) -> int:
    """Where the last page of `total` items, `size` to a page, starts (0 for none)."""
    return (max(total, 1) - 1) // size * size


async def checked_form(request: Request, who: Viewer) -> FormData:
    """The form of a POST, once its CSRF token is the session's; else 403 (audited)."""
    form = await read_form(request, who.name)
    token = form.get("csrf") or request.headers.get("x-csrf-token", "")
    if not isinstance(token, str) or not signer(request).token_ok("csrf", who.session, token):
        await audit.record(request, who.name, "csrf_refused", request.url.path, "refused")
        raise Refused(403, "console.error.csrf")
    return form


class BrokenForm(Exception):
    """A POST body that cannot be read as the form it says it is; `code` says how (a
    key of audit.DETAILS)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


async def read_form(request: Request, user: str) -> FormData:
    """The form of a console POST. A body that is no readable form (malformed, cut
    short, not decodable) is refused with 400 and audited like every other refusal:
    the framework alone would answer it and record nothing."""
    try:
        return await _parsed_form(request)
    except BrokenForm as exc:
        code = exc.code
    except (HTTPException, MultiPartException):  # starlette's word for a malformed multipart
        code = "form_malformed"
    except ClientDisconnect:  # the body ended before its Content-Length
        code = "form_cut"
    said = audit.detail(code)
    await audit.record(request, user, "form_refused", request.url.path, "refused", said)
    raise Refused(400, "console.error.bad_form")


async def _parsed_form(request: Request) -> FormData:
    kind, _ = parse_options_header(request.headers.get("content-type"))
    if kind == b"application/x-www-form-urlencoded":
        return await _urlencoded(request)
    form, closed = await whole_form(request)  # any other kind: no body, an empty form
    # A file cut short would be answered "choose a file" (handlers/formend.py).
    if not closed:
        await form.close()
        raise BrokenForm("form_cut")
    return form


async def _urlencoded(request: Request) -> FormData:
    """Read with the standard library, strictly: starlette's reader turns bytes that
    are no UTF-8 into replacement characters, a value nobody typed."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > URLENCODED_MAX:
            raise BrokenForm("form_malformed")
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=1000)
    except UnicodeDecodeError:
        raise BrokenForm("form_undecodable") from None
    except ValueError:  # more fields than parse_qsl takes
        raise BrokenForm("form_malformed") from None
    return FormData(pairs)
