"""The console's audit log: every login (and failed one) and every action, with who,
from where, on what, and how it ended. Written by the pages; admins read it on the
監査ログ page, each entry's detail in the reader's language (`words`)."""

from __future__ import annotations

import logging
import re

from fastapi import Request

from daemon.console.access import client_address
from daemon.console.throttle import Noted
from daemon.spool.queue import now_iso
from daemon.spool.retry import Refusal
from daemon.store.undo import UndoRefusal
from daemon.web import context
from importers.messages import message

log = logging.getLogger(__name__)
# The refusals the upload form records, by their catalog key's last part.
UPLOAD_REFUSALS = (
    *("no_file", "stopped", "bad_name", "too_large", "not_importable", "expired"),
    "kept_elsewhere",
)
# What an entry's detail says, by code, as it is stored: the same text as before codes
# were read back (older rows read the same), in no language, so that it stays stable.
# The page shows console.audit.detail.<code> instead, with the {fields} read back.
DETAILS: dict[str, str] = {
    "retried": "new run {run}",
    "retry_replayed": "replayed run {run}",
    "undone": "undo run {run}: {deleted} deleted, {restored} restored",
    "polled": "{n} runs",
    "file_run": "{file} run {run}",
    "form_token": "form token",
    "form_malformed": "malformed form",
    "form_cut": "form cut short",
    "form_undecodable": "form not decodable",
    "locked": "locked",
    "active": "active",
    "stopped": "stopped",
    "role_viewer": "role viewer",
    "role_operator": "role operator",
    "no_preview": "no preview {run}",
    **{code.value: code.value for code in (*Refusal, *UndoRefusal)},
    **{f"upload.{name}": f"console.upload.{name}" for name in UPLOAD_REFUSALS},
}


_COUNT = r"\d+"
_FIELD = {"file": ".*", "n": _COUNT, "deleted": _COUNT, "restored": _COUNT}
_WORD = r"\S+?"


def _pattern(template: str) -> re.Pattern[str]:
    """`template` read back: a file name may hold anything, a count only digits, any
    other field (a run id) no space."""
    parts = re.split(r"\{(\w+)\}", template)
    text = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>{_FIELD.get(part, _WORD)})"
        for i, part in enumerate(parts)
    )
    return re.compile(text, re.DOTALL)


_READ_BACK = [(code, _pattern(template)) for code, template in DETAILS.items()]


def detail(code: str, **fields: object) -> str:
    """The detail to record for `code` (a key of DETAILS)."""
    return DETAILS[code].format(**fields)


def words(stored: str, language: str) -> str:
    """A stored detail as the page says it; one that is no code's, as it was stored."""
    for code, pattern in _READ_BACK:
        if found := pattern.fullmatch(stored):
            return message(f"console.audit.detail.{code}", language, **found.groupdict())
    return stored


async def record(
    request: Request,
    user: str,
    action: str,
    target: str = "",
    outcome: str = "ok",
    detail: str = "",
) -> None:
    store = context.store(request)
    kept = _storable if store.shared else str  # the shared store is PostgreSQL
    entry = {
        "at": now_iso(),
        "user": kept(user[:200]),
        "address": client_address(request),
        "action": action,
        "target": kept(target[:500]),
        "outcome": outcome,
        "detail": kept(detail[:1000]),
    }
    await store.audit(entry)


def _storable(text: str) -> str:
    """Text as PostgreSQL holds it: a NUL (a login name typed with one) as its code
    point, as the page shows a control character; its text holds none, and the attempt
    went unaudited behind an error page. SQLite keeps the NUL, which the page shows so."""
    return text.replace("\x00", "U+0000")


async def refusal(request: Request, user: str, action: str, target: str, code: str) -> None:
    """An action refused for the user's role, audited NOTED a WINDOW from one address
    (throttle.py): a script repeating it would write a row a request."""
    state = request.app.state
    if getattr(state, "console_refusals", None) is None:
        state.console_refusals = Noted()
    if state.console_refusals.worth_noting(client_address(request)):
        await record(request, user, action, target, "refused", detail(code))
    else:
        log.info(
            "console %s by %s from %s refused (%s); not audited again",
            action,
            user,
            client_address(request),
            code,
        )
