"""Admin alerts: a mail to `report.admin_to` when the daemon needs a person, queued in
the reporter's durable outbox like any report.

Two kinds of cause. One that lasts — a reload refused, the disk low — is raised each
time it is seen but mailed once, until it clears (a reload accepted, room again); the
causes raised are kept in `data_dir/alerts.json`, so a restart while the disk is still
low mails nothing new. Only the master raises and clears them. One that happens once —
a file quarantined (raised in the import process, by the pipeline), a report the relay
refused for good, a call's requests failed (outward/calls.py) — is mailed once: each
concerns one spool item, one mail or one call's job, which cannot be quarantined or
given up twice. No mail goes when `admin_to` is empty.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import formatdate

from daemon.report.message import clean, flat
from daemon.report.outbox import ALERT_PREFIX, Reporter
from daemon.report.subject import set_subject
from daemon.settings import Settings
from daemon.settings.problems import Problem
from daemon.spool.durable import replace_durably
from daemon.spool.queue import SpoolItem, new_id
from importers.messages import message

log = logging.getLogger(__name__)
RELOAD = "reload"
DISK = "disk"


class Alerts:
    def __init__(self, settings: Callable[[], Settings], reporter: Reporter) -> None:
        self._settings = settings
        self.reporter = reporter
        self.state_path = settings().data_dir / "alerts.json"
        self._lock = asyncio.Lock()
        # A lasting cause's alert that could not be queued (the disk it tells of full):
        # sent once the cause clears, else the admin never heard of it.
        self._unsent: dict[str, tuple[str, dict, str]] = {}

    @property
    def settings(self) -> Settings:
        return self._settings()

    # -- causes that last: mailed once until they clear ---------------------------
    async def reload_refused(
        self, problems: Sequence[Problem], path: str, waits: bool = False
    ) -> None:
        """`waits`: the config is fine and is tried again by itself (the store busy, the
        disk full a moment): said so, not as problems of the config file."""
        language = self.settings.report.language
        lines = [f"  {problem.render(language)}" for problem in problems]
        # The same problems again are the same cause; a new problem is news.
        fingerprint = "\n".join(sorted(str(problem) for problem in problems))
        kind = "reload_waits" if waits else "reload"
        body = message(f"alert.body.{kind}", language, path=path) + "\n" + "\n".join(lines)
        await self._raise(RELOAD, fingerprint, f"alert.subject.{kind}", {}, body)

    async def disk_low(self, path: str, free: int, limit: int) -> None:
        language = self.settings.report.language
        body = message("alert.body.disk", language, path=path, free=free, limit=limit)
        await self._raise(DISK, "low", "alert.subject.disk", {}, body)

    async def clear(self, cause: str) -> None:
        async with self._lock:
            state = self._state()
            if state.pop(cause, None) is not None:
                await asyncio.to_thread(self._save, state)
                log.info("alert %s cleared", cause)
            unsent = self._unsent.pop(cause, None)
            if unsent is not None and self.settings.report.admin_to:
                subject, params, body = unsent
                late = message("alert.body.late", self.settings.report.language)
                await self._mail(cause, subject, params, f"{body}\n\n{late}")

    async def _raise(
        self, cause: str, fingerprint: str, subject: str, params: dict, body: str
    ) -> None:
        async with self._lock:
            state = self._state()
            if state.get(cause) == fingerprint or not self.settings.report.admin_to:
                return
            if cause in self._unsent:
                self._unsent[cause] = (subject, params, body)
                return  # said in the log once: tried again when the cause clears
            if await self._mail(cause, subject, params, body):
                state[cause] = fingerprint
                await asyncio.to_thread(self._save, state)
            else:
                self._unsent[cause] = (subject, params, body)

    def _state(self) -> dict[str, str]:
        try:
            return json.loads(self.state_path.read_bytes())
        except FileNotFoundError:
            return {}
        except ValueError:
            log.warning("%s is unreadable; starting with no alert raised", self.state_path)
            return {}

    def _save(self, state: dict[str, str]) -> None:
        try:
            replace_durably(self.state_path, json.dumps(state, ensure_ascii=False).encode())
        except OSError as exc:  # forgotten: a lasting cause may be mailed once more
            log.error("could not record the raised alerts in %s: %s", self.state_path, exc)

    # -- causes that happen once ----------------------------------------------------
    async def quarantined(self, item: SpoolItem) -> None:
        language, path = self.settings.report.language, f"spool/failed/{item.id}"
        attempts = item.meta.attempts
        intro = message("alert.body.quarantined", language, attempts=attempts, path=path)
        await self._about_file("quarantined", "quarantined", item, intro)

    async def account_gone(self, item: SpoolItem) -> None:
        """A file accepted for an account a reload removed (or renamed) before it was
        imported: its run failed, with no report to anyone but this."""
        language, account = self.settings.report.language, clean(item.meta.account)
        intro = message("alert.body.account_gone", language, account=account, run=item.id)
        await self._about_file("account-gone", "account_gone", item, intro)

    async def _about_file(self, cause: str, kind: str, item: SpoolItem, intro: str) -> None:
        """One alert about a file and its run: `intro`, then the run, its account, file
        and sender; `alert.subject.<kind>` names the account and the file."""
        language, meta = self.settings.report.language, item.meta
        params = {"account": flat(meta.account), "filename": flat(meta.filename) or "-"}
        lines = [
            intro,
            "",
            _field("run", item.id, language),
            _field("account", clean(meta.account), language),
            _field("filename", clean(meta.filename) or "-", language),
            _field("sender", clean(meta.sender), language),
        ]
        await self._once(cause, f"alert.subject.{kind}", params, "\n".join(lines))

    async def damaged(self, item_id: str, name: str, reason: str) -> None:
        """A spooled file whose description cannot be read, set aside as `name` in
        `spool/failed/`."""
        await self._about_item("damaged", item_id, f"spool/failed/{name}", reason=reason)

    async def report_damaged(self, item_id: str, reason: str) -> None:
        """A report mail whose waiting files are damaged, set aside in `outbox/failed/`."""
        path = f"outbox/failed/{item_id}.json"
        await self._about_item("report_damaged", item_id, path, reason=reason)

    async def report_refused(
        self, item_id: str, recipients: list[str], reply: str, how: str = "all"
    ) -> None:
        """`how`: refused for every recipient ("all"), for those `recipients` only, sent
        to the others ("some") or still retried for them, refused for now
        ("some_waiting"), or not sendable at all, the relay never asked ("unsendable":
        `reply` is why)."""
        kinds = {
            "some": "report_refused_some",
            "some_waiting": "report_refused_some_waiting",
            "unsendable": "report_unsendable",
        }
        kind = kinds.get(how, "report_refused")
        path = f"outbox/failed/{item_id}.eml"
        said = {"reason" if how == "unsendable" else "reply": reply}
        await self._about_item(kind, item_id, path, recipients=", ".join(recipients), **said)

    async def call_failed(
        self, call: str, run_id: str, failed: int, total: int, answer: str
    ) -> None:
        """A call's job ended with `failed` of its `total` requests failed for good (or
        never started); `answer` is the first failure's: its status and body, or why."""
        language = self.settings.report.language
        counts = {"failed": failed, "total": total}
        lines = [
            message("alert.body.call_failed", language, call=clean(call), run=run_id, **counts),
            "",
            _field("run", run_id, language),
            f"{message('alert.field.call', language)}: {clean(call)}",
            f"{message('alert.field.failed', language)}: {failed} / {total}",
            f"{message('alert.field.first_answer', language)}: {clean(answer)}",
        ]
        params = {"call": flat(call), "run": run_id}
        await self._once("call-failed", "alert.subject.call_failed", params, "\n".join(lines))

    async def _about_item(self, kind: str, item_id: str, path: str, **fields: str) -> None:
        """One alert about a run's item kept at `path`: `alert.subject.<kind>` and
        `alert.body.<kind>`, then the run and each of `fields` (`alert.field.<name>`)."""
        language = self.settings.report.language
        lines = [message(f"alert.body.{kind}", language, path=path), ""]
        lines.append(_field("run", item_id, language))
        for name, value in fields.items():
            lines.append(f"{message(f'alert.field.{name}', language)}: {clean(value)}")
        cause = kind.replace("_", "-")
        await self._once(cause, f"alert.subject.{kind}", {"item": item_id}, "\n".join(lines))

    async def _once(self, cause: str, subject: str, params: dict, body: str) -> None:
        if self.settings.report.admin_to:
            await self._mail(cause, subject, params, body)

    async def _mail(self, cause: str, subject: str, params: dict, body: str) -> bool:
        """Queue one alert; False when it could not be (the disk full, say): a lasting
        cause is then not marked raised, so the next sight of it tries again."""
        report = self.settings.report
        item_id = f"{ALERT_PREFIX}{cause}-{new_id()}"
        msg = EmailMessage()
        set_subject(msg, message(subject, report.language, **params))
        msg["From"] = report.from_
        msg["To"] = ", ".join(report.admin_to)
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = f"<{item_id}@renkei>"
        msg["Auto-Submitted"] = "auto-generated"
        footer = message("report.footer", report.language)
        msg.set_content(f"{body}\n\n-- \n{footer}\n", charset="utf-8")
        try:
            await self.reporter.queue_mail(item_id, msg, list(report.admin_to))
        except OSError as exc:
            log.error("admin alert %s could not be queued: %s", item_id, exc)
            return False
        log.warning("admin alert %s queued for %s", item_id, ", ".join(report.admin_to))
        return True


def _field(name: str, value: object, language: str) -> str:
    return f"{message(f'report.field.{name}', language)}: {value}"
