"""Who is looking at the console, and what that user may see and do.

Roles follow the split between those who set linkage up and those who run it: a viewer
reads; an operator also uploads, checks now, retries and undoes, for its accounts; an
admin does everything (stop and start, the audit log) for every account. The role is
read from the config at each request, so a reload that changes it takes effect at once;
a user removed from the config, or whose password hash changed, is logged out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from daemon.console.signing import Signer
from daemon.spool.queue import now_iso
from daemon.web import context
from importers.messages import Words

COOKIE = "renkei_session"
LIFETIME = dt.timedelta(hours=12)


@dataclass(frozen=True)
class Viewer:
    name: str
    role: str  # admin | operator | viewer
    accounts: frozenset[str]
    session: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_see(self, account: str) -> bool:
        return self.is_admin or account in self.accounts

    def may_run(self, account: str) -> bool:
        """Upload, check now, retry and undo for `account`."""
        return self.role in ("admin", "operator") and self.may_see(account)

    def visible(self, accounts: list[str]) -> list[str]:
        return [name for name in accounts if self.may_see(name)]


class NotLoggedIn(Exception):
    """No live session: the browser is sent to the login page."""


class Refused(Exception):
    """A page or action this user may not have: 403 (wrong role) or 404 (an account or
    run the user may not see, answered as if it did not exist)."""

    def __init__(
        self, status: int, key: str, links: Sequence[tuple[str, str]] = (), **params: Any
    ) -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.params = params
        # (catalog key, run id): the runs the refusal is about, linked from its page.
        self.links = list(links)
        # (action, target, detail code) of a refusal the audit log records: written
        # by the answer to it (app.py), bounded there.
        self.audited: tuple[str, str, str] | None = None


def signer(request: Request) -> Signer:
    state = request.app.state
    if getattr(state, "console_signer", None) is None:
        state.console_signer = Signer.for_data_dir(context.settings(request).data_dir)
    return state.console_signer


def session_cookie(request: Request, session: str, password_hash: str) -> str:
    """The cookie of a new session: its id, bound to the password it was opened with,
    so that a password changed in the config ends every session opened with the old."""
    return signer(request).sign(f"{session}~{_password_stamp(request, password_hash)}")


def _password_stamp(request: Request, password_hash: str) -> str:
    return signer(request).token("password", password_hash)[:22]


async def viewer(request: Request) -> Viewer:
    cookie = request.cookies.get(COOKIE)
    value = signer(request).unsign(cookie) if cookie else None
    sid, _, stamp = (value or "").partition("~")
    name = await context.store(request).session_user(sid, now_iso()) if sid else None
    user = context.settings(request).users.get(name) if name else None
    if user is None or stamp != _password_stamp(request, user.password_hash):
        raise NotLoggedIn
    return Viewer(name, user.role, frozenset(user.accounts), sid)


Who = Annotated[Viewer, Depends(viewer)]


def see_account(who: Viewer, request: Request, name: str) -> None:
    """404 unless `name` is an account this user may see."""
    if name not in context.settings(request).accounts or not who.may_see(name):
        raise Refused(404, "console.error.no_account", name=name)


def run_account(who: Viewer, request: Request, name: str, action: str) -> None:
    """404 for an account out of sight, 403 for one the user may only read."""
    see_account(who, request, name)
    if not who.may_run(name):
        raise role_refused(who, action, name)


def admin_only(who: Viewer, action: str, target: str = "") -> None:
    if not who.is_admin:
        raise role_refused(who, action, target)


def role_refused(who: Viewer, action: str, target: str) -> Refused:
    """403 naming the user's role in the page's words (閲覧者), as the header does;
    audited as `action` on `target`, as every other refusal is."""
    refused = Refused(403, "console.error.role", role=Words(f"console.role.{who.role}"))
    refused.audited = (action, target, f"role_{who.role}")
    return refused


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""
