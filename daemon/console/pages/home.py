"""概要 (the top page) and the audit log (監査ログ, admins only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from daemon.console import audit
from daemon.console.access import Who, admin_only
from daemon.console.health import SEND_ABORTED, glance
from daemon.console.render import language, last_page_offset, offset_param, page
from daemon.store.runs import RunState
from daemon.web import context

router = APIRouter()
AUDIT_PAGE = 100


@router.get("/", include_in_schema=False)
async def root() -> Response:
    return RedirectResponse("/console/", 303)


@router.get("/console", include_in_schema=False)
async def bare() -> Response:
    return RedirectResponse("/console/", 303)


@router.get("/console/")
async def home(request: Request, who: Who) -> Response:
    states = [state.value for state in RunState]
    found = await glance(request, who)
    if any(SEND_ABORTED in counts for counts in found["today"].values()):
        states.insert(states.index(RunState.ABORTED.value) + 1, SEND_ABORTED)
    return page(request, "home.html", who, states=states, **found)


@router.get("/console/audit")
async def audit_page(request: Request, who: Who) -> Response:
    admin_only(who, "audit")
    offset = offset_param(request)
    entries, total = await context.store(request).audit_entries(AUDIT_PAGE, offset)
    if not entries and offset and total:  # past the end: the last page, with its pager
        offset = last_page_offset(total, AUDIT_PAGE)
        entries, total = await context.store(request).audit_entries(AUDIT_PAGE, offset)
    lang = language(request)
    shown = [entry | {"words": audit.words(entry["detail"], lang)} for entry in entries]
    return page(
        request,
        "audit.html",
        who,
        entries=shown,
        total=total,
        offset=offset,
        page_size=AUDIT_PAGE,
    )
