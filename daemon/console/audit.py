"""The console's audit log: every login (and failed one) and every action, with who,
from where, on what, and how it ended. Admins read it on the 監査ログ page."""

from __future__ import annotations

from fastapi import Request

from daemon.console.access import client_address
from daemon.spool.queue import now_iso
from daemon.web import context


async def record(
    request: Request,
    user: str,
    action: str,
    target: str = "",
    outcome: str = "ok",
    detail: str = "",
) -> None:
    entry = {
        "at": now_iso(),
        "user": user[:200],
        "address": client_address(request),
        "action": action,
        "target": target[:500],
        "outcome": outcome,
        "detail": detail[:1000],
    }
    await context.store(request).audit(entry)
