"""Outbox and reporter: report mail waits in a durable outbox until the relay takes it.

`queue_run()` builds a run's report and writes it under `data_dir/outbox/` (the .eml,
then its .json envelope, each durable); `serve()` hands due items to the relay with
aiosmtplib and retries with backoff while it is down. A report the relay refuses for
good (5xx to every recipient, or to the message) moves to `outbox/failed/` and is told
to `on_refused` (an admin alert, alerts.py, whose own items are queued by `queue_mail()`
under ids starting `alert-`); a recipient refused for good beside others is told at once
and asked no more, whatever the others answered. Importing never waits for mail. Built
once by daemon.graph; the pipeline queues, the master serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import aiosmtplib

from daemon import metrics
from daemon.backoff import backoff
from daemon.report import message as report_mail
from daemon.report import sendmail
from daemon.settings import Settings, resolve_secret, split_listen
from daemon.settings.problems import OsTrouble, tls_error_in
from daemon.settings.tls import client_context
from daemon.spool.durable import (
    fsync_dir,
    left_behind,
    put_whole,
    replace_durably,
    write_synced,
)
from daemon.store.base import Store
from daemon.store.errors import log_failure, server_trouble
from daemon.store.runs import ReportState
from daemon.worker.ownfolders import own_folder_trouble
from importers.messages import Words

log = logging.getLogger(__name__)
_RESCAN_SECONDS = 5.0
_HELD_SECONDS = 1.0
_STRANDED_SECONDS = 60.0  # a report pending this long after its run finished is queued
ALERT_PREFIX = "alert-"  # outbox items that are no run's report: alerts, notes, digests
DIGEST_PREFIX = f"{ALERT_PREFIX}digest-"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def id_part(name: str) -> str:
    """An account's name as part of an outbox item's id (a file name). One with other
    characters (営業, 経理) is followed by a digest of it: made safe alone, two such
    names would be one id, and the second item would overwrite the first."""
    safe = _UNSAFE.sub("_", name)
    if safe == name:
        return name
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one try to hand a mail to the relay fared, for the command that made it."""

    # sent | sent_partly (some recipients refused) | retry (it waits in the outbox) |
    # failed (refused for good)
    outcome: str
    answer: str  # the relay's reply (whom it refused), or why it could not be reached
    recipients: tuple[str, ...]  # sent: those the relay took
    cause: BaseException | None = None  # the relay not reached: what the system said


@dataclass(frozen=True, slots=True)
class RelayDown:
    """The relay could not take mail at the last try: since when (the first failed
    try of this trouble), what it answered last (or why it could not be reached), and
    when the waiting reports are tried again; times as time.time()."""

    since: float
    answer: str
    until: float
    said: Words | None = None  # the answer in the catalog's words, when it has them


class Reporter:
    def __init__(self, settings: Callable[[], Settings], store: Store) -> None:
        self._settings = settings
        self.store = store
        self.outbox = settings().data_dir / "outbox"
        self.outbox.mkdir(parents=True, exist_ok=True)
        self._wake = asyncio.Event()
        # Each envelope's last change (ns) and next try, by its file name: a flush reads
        # only the envelopes that changed since it last read them, not the whole outbox
        # each time (a relay down for a day holds thousands, and every queued report
        # wakes a flush).
        self._due: dict[str, tuple[int, float]] = {}
        # Told of each report the relay refused for good: its id, recipients, the reply.
        # And how: "all" (refused for every recipient), "some" (the others had it: not
        # kept in failed/), "some_waiting" (the others were refused for now: it is still
        # retried for them), "unsendable" (the relay was never asked: kept in failed/).
        self.on_refused: Callable[[str, list[str], str, str], Awaitable[None]] | None = None
        # Told of each report set aside because its waiting files are damaged: its id
        # and why.
        self.on_damaged: Callable[[str, str], Awaitable[None]] | None = None
        # While a command sends its own mail (send_now), each try as it fared: the
        # command says it in the catalog's words, so it is not logged as a warning.
        self._told: dict[str, Attempt] | None = None
        # Until when (time.time()) the relay rests: it could not be reached, or refused
        # us rather than a mail. The waiting reports would all fare the same, so they
        # wait untried (their own next tries unchanged) and the oldest asks again then,
        # due or not (_asking). Tried one after another, a relay down refused a thousand
        # connections a pass and logged a line for each; one that drops them cost
        # `timeout` each, so a pass took hours and the reports queued meanwhile waited
        # behind it.
        self._rests_until = 0.0
        # What the console's overview says of the relay: None while it takes mail.
        self.relay_down: RelayDown | None = None
        # The relay took mail again after resting: the next pass tries every waiting
        # report at once. Their own next tries grew while it was down (the oldest's to
        # max_retry_seconds, an hour by default), and waiting them out sent the
        # reports of an outage in the hour after it ended, the first ones last.
        self._back = False
        # Whether the reports waiting at the start are an outage's, whose end this
        # process never saw (a restart, an upgrade): then the first mail the relay
        # takes is its return too. None until the first pass looks.
        self._outage_left: bool | None = None

    @property
    def settings(self) -> Settings:
        return self._settings()

    def wake(self) -> None:
        """A report was queued by another process (the daemon's import process)."""
        self._wake.set()

    def relay_changed(self) -> None:
        """A reload changed `report.*` (a relay fixed, a shorter pause): the relay's rest
        ends and every waiting report is tried now, as when the relay comes back; they
        waited out the old pause for the old relay."""
        self._rests_until = 0.0
        self._back = True
        self._wake.set()

    async def queue_run(self, run_id: str) -> None:
        """Put the report of a finished run in the outbox (idempotent per run)."""
        run = await self.store.get_run(run_id)
        if run is not None and run["direction"] == "send":
            await self._queue_send(run)
            return
        if run is None:
            return
        account = self.settings.accounts.get(run["account"])
        if account is None:
            # A reload removed the account while its file was imported: nobody to
            # mail. Settled, or the run said its report was being prepared for good.
            log.warning(
                "run %s: no report mail: account %s is no longer in the config",
                run_id,
                run["account"],
            )
            await self.store.update_run(run_id, report_state=ReportState.NONE)
            return
        is_error = report_mail.kind(run) != "completed"
        recipients = account.error_report_to if is_error else account.success_report_to
        errors = await self.store.run_errors(run_id, limit=report_mail.BODY_ERRORS)
        error_count = await self.store.error_count(run_id) if errors else 0
        attachment = self.settings.data_dir / run["error_report"] if run["error_report"] else None
        msg = await self._built(
            run_id,
            report_mail.build,
            run,
            errors,
            recipients,
            self.settings.report.from_,
            self.settings.report.language,
            self.settings.daemon.timezone,
            attachment,
            error_count,
        )
        if msg is None:
            return
        # Recorded before the mail is in the outbox: once it is, the master may send it
        # at any moment, and its `sent` must land on this record, not be replaced by it.
        await self._record(self.store.report_queued, run_id, list(recipients))
        await self._enqueue(run_id, msg.as_bytes(policy=SMTP), list(recipients))
        await self.store.report_in_outbox(run_id)
        self._wake.set()

    async def _queue_send(self, run: dict[str, Any]) -> None:
        recipients = sendmail.recipients(self.settings, run)
        if not recipients:
            await self.store.update_run(run["id"], report_state=ReportState.NONE)
            return
        requests = await self.store.requests_of(run["id"])
        msg = await self._built(run["id"], sendmail.build, run, requests, recipients, self.settings)
        if msg is None:
            return
        await self._record(self.store.report_queued, run["id"], recipients)
        await self._enqueue(run["id"], msg.as_bytes(policy=SMTP), recipients)
        await self.store.report_in_outbox(run["id"])
        self._wake.set()

    async def _built(
        self, run_id: str, build: Callable[..., EmailMessage], *args: Any
    ) -> EmailMessage | None:
        """The run's report, or None when it cannot be built: then the run says its
        report failed, and whoever asked (the importer, the start's recovery) goes on,
        rather than failing at every start on the same run."""
        try:
            return build(*args)
        except Exception:
            log.exception("run %s: its report mail cannot be built", run_id)
            await self.store.update_run(run_id, report_state=ReportState.FAILED)
            return None

    async def queue_mail(self, item_id: str, msg: EmailMessage, recipients: list[str]) -> None:
        """Put a mail that is no run's report (an admin alert) in the outbox."""
        await self._enqueue(item_id, msg.as_bytes(policy=SMTP), recipients)
        self._wake.set()

    async def _enqueue(self, item_id: str, data: bytes, recipients: list[str]) -> None:
        """Durably in the outbox: this instance's folder, or with a shared store the
        store's outbox, which every instance's reporter serves (one claims each item,
        so it goes once, and goes even when the instance that queued it is gone)."""
        if self.store.shared:
            await self.store.outbox_put(item_id, data, recipients)
        else:
            await asyncio.to_thread(self._put, item_id, data, recipients)

    def _put(self, item_id: str, data: bytes, recipients: list[str]) -> None:
        # The mail too is renamed into place: a second writer of the item must not
        # truncate it under the sender reading the first's.
        put_whole(self.outbox / f"{item_id}.eml", data)
        envelope = {"recipients": recipients, "attempts": 0, "next_try": 0.0}
        # The envelope appears last: an item without one is not yet in the outbox.
        put_whole(self.outbox / f"{item_id}.json", json.dumps(envelope).encode())
        fsync_dir(self.outbox)

    async def recover(self, finished_before: str | None = None) -> None:
        """Queue the reports of runs that finished just before a crash."""
        for run in await self.store.runs_to_report(finished_before):
            await self.queue_run(run["id"])

    async def serve(self) -> None:
        # The first look at once: it finds what the start's recover() could not queue
        # (a store busy then), and costs one query.
        last_look = -math.inf
        while True:
            if time.monotonic() - last_look > _STRANDED_SECONDS:
                # A report still pending a minute after its run finished was stranded:
                # the import process died between the commit and queuing it, or the
                # disk was full then. Not only at the next start, which may be weeks off.
                last_look = time.monotonic()
                before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=_STRANDED_SECONDS)
                try:
                    await self.recover(before.isoformat(timespec="milliseconds"))
                except Exception as exc:  # a store busy, a disk full: at the next look
                    log.warning("stranded reports not queued yet: %s", exc)
            # Cleared before the flush: a report queued during it wakes the next pass
            # at once, where clearing after it made that report wait the 5 s rescan.
            self._wake.clear()
            next_due = await self.flush()
            timeout = min(max(next_due - time.time(), 0.05), _RESCAN_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def flush(self) -> float:
        """Send every due item once (every waiting one once the relay is back after
        resting); returns when the next one falls due."""
        if self._outage_left is None:
            self._outage_left = await asyncio.to_thread(self._tried_before) or (
                self.store.shared and await self.store.outbox_tried()
            )
        if self._resting():
            return self._rests_until
        back, self._back = self._back, False
        # A shared store's outbox; and the folder, which holds what was queued before
        # the store was shared.
        due = math.inf
        if self.store.shared:
            due = await self._flush_shared_unless_in_trouble(back)
        if self._resting():
            return self._rests_until
        due = min(due, await self._flush_folder(back))
        # Back during this pass: the reports it passed over as not due go now.
        return time.time() if self._back else due

    def _resting(self) -> bool:
        return self._rests_until > time.time()

    def _asking(self) -> bool:
        """Whether the next waiting report asks the relay now, due or not: its rest is
        over and it is still said down. Left to their own next tries, which grew while
        it was down (to max_retry_seconds), none asked when the rest ended, and the
        relay back was not seen for up to that long. Never for a command sending its own
        mail (send_now): it does not rest the relay, so it would ask again and again."""
        said_down = self.relay_down is not None or bool(self._outage_left)
        return said_down and not self._resting() and self._told is None

    async def _flush_shared_unless_in_trouble(self, back: bool) -> float:
        """The shared outbox, unless PostgreSQL is in trouble of the moment (read-only
        after a failover, restarting, …): then looked at again after a pause, as a
        relay that does not answer is, instead of the reporter dying over it."""
        try:
            if back:
                await self.store.outbox_due_now(time.time())
            return await self._flush_shared()
        except Exception as exc:
            if server_trouble(exc) is None:
                raise
            self._back = self._back or back  # the catch-up too, at the next look
            log.warning("report outbox: the store cannot take it now (%s); looking again", exc)
            return time.time() + _RESCAN_SECONDS

    async def _flush_folder(self, back: bool = False) -> float:
        """Send the folder's due items (every waiting one when the relay is `back`)."""
        next_due = time.time() + _RESCAN_SECONDS
        for name, changed in self._envelopes():
            envelope_path = self.outbox / name
            seen = self._due.get(name)
            if seen is None or seen[0] != changed:
                seen = self._due[name] = (changed, _next_try(envelope_path))
            due = seen[1]
            ask = self._asking()
            if due <= time.time() or back or ask:
                due = await self._send(envelope_path, due_anyway=back or ask)
                if due is None:
                    self._due.pop(name, None)
                    continue
                # Its own write changed the file: read again next time, once.
                self._due[name] = (-1, due)
                if self._resting():
                    return self._rests_until
            next_due = min(next_due, due)
            # aiosmtplib may turn a cancellation during connect into an SMTP error;
            # honour the stop anyway instead of working through the whole outbox.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
        return next_due

    def _tried_before(self) -> bool:
        """Whether a report in the outbox folder was tried before this process began
        and waits for a later try."""
        for name, _ in self._envelopes():
            with contextlib.suppress(OSError, ValueError):
                envelope = json.loads((self.outbox / name).read_bytes())
                if envelope.get("attempts", 0) > 0 and not envelope.get("for_now"):
                    return True
        return False

    def _envelopes(self) -> list[tuple[str, int]]:
        """The outbox's envelopes, oldest item first, each with its last change (ns);
        forgets those gone."""
        found = []
        with os.scandir(self.outbox) as entries:
            for entry in entries:
                if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    self._clear_left_behind(entry)
                    continue
                if not entry.name.endswith(".json") or entry.name.startswith("."):
                    continue
                with contextlib.suppress(FileNotFoundError):  # sent by another process
                    found.append((entry.name, entry.stat().st_mtime_ns))
        found.sort()
        names = {name for name, _ in found}
        self._due = {name: seen for name, seen in self._due.items() if name in names}
        return found

    @staticmethod
    def _clear_left_behind(entry: os.DirEntry[str]) -> None:
        """Remove a temporary file a writer killed before its rename left (the next
        write of its item takes a name of its own: nothing else ever would)."""
        with contextlib.suppress(OSError):
            if left_behind(entry.name, entry.stat().st_mtime):
                os.unlink(entry.path)
                log.info("report outbox: removed %s, left by a writer that died", entry.name)

    async def _flush_shared(self, only: str = "") -> float:
        """The shared outbox: claim a due item (FOR UPDATE SKIP LOCKED: an item another
        instance is sending is passed over), send it, settle it in the same claim. The
        relay resting no more yet said down, the first to fall due asks it now. With
        `only`, that item alone, once."""
        asked = False
        while True:
            # One ask a pass: a try that fails rests the relay, but one cut short
            # otherwise (the claim lost) must not claim the same item again at once.
            asking = self._asking() and not asked
            asked = asked or asking
            now = math.inf if asking else time.time()
            async with self.store.outbox_claim(now, only) as item:
                if item is None:
                    break
                envelope = {"recipients": item.recipients, "attempts": item.attempts}
                # The relay's taking it is said outside the claim, which may die first.
                taken = functools.partial(self.store.outbox_taken, item.item_id)
                outcome = await self._attempt(item.item_id, item.message, envelope, taken)
                if outcome == "retry":
                    await item.retry(
                        envelope["attempts"], envelope["next_try"], envelope["recipients"]
                    )
                else:
                    if outcome == "failed":
                        await asyncio.to_thread(
                            self._keep_failed, item.item_id, item.message, envelope
                        )
                    await item.done()
            if outcome == "failed":
                await self._refused_for_good(item.item_id, envelope)
            if only:
                break
            if self._resting():
                return self._rests_until
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
        due = await self.store.outbox_next_due()
        if due is None:
            return time.time() + _RESCAN_SECONDS
        # Due already yet not claimed: another instance is sending it; look again soon.
        return min(max(due, time.time() + _HELD_SECONDS), time.time() + _RESCAN_SECONDS)

    async def send_now(self, item_id: str) -> Attempt | None:
        """Try once to deliver one queued item (`renkei import`, `digest` and
        `expect-check` send their own): how it fared, or None when it was not tried
        (not in the outbox, not due yet, or another process is sending it)."""
        self._told = {}
        try:
            if self.store.shared:
                # Its own item: a command that tried every waiting one took
                # report.timeout for each of them with a relay that does not answer.
                try:
                    await self._flush_shared(only=item_id)
                except Exception as exc:
                    if server_trouble(exc) is None:
                        raise
                    return None  # the store in trouble: the daemon sends it later
            else:
                await self._send(self.outbox / f"{item_id}.json")
            return self._told.get(item_id)
        finally:
            self._told = None

    async def _send(self, envelope_path: Path, due_anyway: bool = False) -> float | None:
        """Try the item once if it is due (or `due_anyway`): when to try it next, or None
        once it has left the outbox (sent, refused for good, or gone) or another process
        holds it."""
        # A `renkei import` beside the daemon may deliver the same item: whoever holds
        # the lock sends it, the other skips it.
        try:
            fd = os.open(envelope_path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
            try:
                # Read under the lock: the holder before may have tried it meanwhile.
                envelope = _readable(json.loads(envelope_path.read_bytes()))
                if "sent" not in envelope and not envelope_path.with_suffix(".eml").is_file():
                    raise ValueError("its mail (.eml) is missing")
            except FileNotFoundError:
                return None
            except ValueError as exc:  # a UnicodeDecodeError too
                # Damaged (by hand, or by the disk): set aside, so that it does not
                # stop every mail after it.
                await self._set_aside(envelope_path, str(exc))
                return None
            if "sent" in envelope:
                # The relay took it before a stop cut its bookkeeping short: recorded
                # now, never sent again.
                await self._settle_sent(envelope_path.stem, str(envelope["sent"]))
                _remove_item(envelope_path)
                return None
            if envelope["next_try"] > time.time() and not due_anyway:
                return envelope["next_try"]
            return await self._deliver(envelope_path, envelope)
        finally:
            os.close(fd)

    async def _set_aside(self, envelope_path: Path, reason: str) -> None:
        """Move an item whose envelope cannot be used into `failed/`, as it is."""
        failed = self._move_to_failed(envelope_path)
        item_id = envelope_path.stem
        log.error("report %s: cannot be sent (%s); set aside in %s", item_id, reason, failed)
        if item_id.startswith(ALERT_PREFIX):
            return  # never an alert about an alert
        with contextlib.suppress(Exception):  # only a record: see _record()
            await self.store.update_run(item_id, report_state=ReportState.FAILED)
        if self.on_damaged is not None:
            await self.on_damaged(item_id, reason)

    def _move_to_failed(self, envelope_path: Path) -> Path:
        """Move an item (its mail, if there, then its envelope) into `failed/`, durably;
        returns that folder."""
        failed = self.outbox / "failed"
        failed.mkdir(exist_ok=True)
        for path in (envelope_path.with_suffix(".eml"), envelope_path):
            with contextlib.suppress(FileNotFoundError):  # a damaged item's mail may be gone
                os.rename(path, failed / path.name)
        fsync_dir(failed)
        fsync_dir(self.outbox)
        return failed

    async def _deliver(self, envelope_path: Path, envelope: dict[str, Any]) -> float | None:
        eml = envelope_path.with_suffix(".eml")

        async def accepted(remaining: list[str]) -> None:
            await asyncio.to_thread(_note_accepted, envelope_path, envelope)

        outcome = await self._attempt(eml.stem, eml.read_bytes(), envelope, accepted)
        if outcome == "sent":
            _remove_item(envelope_path)
        elif outcome == "failed":
            self._move_to_failed(envelope_path)
            await self._refused_for_good(eml.stem, envelope)
        else:
            replace_durably(envelope_path, json.dumps(envelope).encode())
            return envelope["next_try"]
        return None

    async def _attempt(
        self,
        item_id: str,
        data: bytes,
        envelope: dict[str, Any],
        accepted: Callable[[list[str]], Awaitable[None]] | None = None,
    ) -> str:
        """Hand one item to the relay: "sent", "failed" (refused for good) or "retry"
        (`envelope` then holds its next attempt, and the recipients it is for);
        recorded on the run, either way. `accepted` is called the moment the relay
        took the mail, `envelope` saying so, with the recipients still to have it,
        before anything that can wait (the store behind an import's write lock)."""
        host, port = split_listen(self.settings.report.relay)
        sending = asyncio.ensure_future(
            aiosmtplib.send(
                data,
                sender=self.settings.report.from_,
                recipients=envelope["recipients"],
                hostname=host,
                port=port,
                timeout=self.settings.report.timeout,
                **relay_security(self.settings),
            )
        )
        stopped: list[asyncio.CancelledError] = []
        try:
            return await self._answered(item_id, envelope, accepted, sending, stopped)
        finally:
            if stopped:
                raise stopped[0]

    async def _answered(
        self,
        item_id: str,
        envelope: dict[str, Any],
        accepted: Callable[[list[str]], Awaitable[None]] | None,
        sending: asyncio.Future,
        stopped: list[asyncio.CancelledError],
    ) -> str:
        """The attempt once `sending` has the relay's answer. A stop that comes while
        the relay answers waits for its answer (report.timeout at most) and for it to
        be recorded, and is raised after (`stopped`): cancelled, aiosmtplib quit and
        waited for the relay all the same, which took the mail; unmarked, the mail
        went again at the next start."""
        while True:
            try:
                refused, reply = await asyncio.shield(sending)
                break
            except asyncio.CancelledError as cancel:
                if sending.cancelled():
                    raise
                stopped.append(cancel)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                return await self._not_taken(item_id, envelope, exc)
            except Exception as exc:
                # No answer of the relay's: a mail that cannot be sent at all (an
                # address the client cannot write, a bug). Tried again, it failed the
                # same way at every pass and, the oldest, went first and held up every
                # report after it: set aside for the admin instead.
                log.error("report %s cannot be sent; set aside: %r", item_id, exc)
                envelope["refusal"] = f"{type(exc).__name__}: {exc}"
                envelope["how"] = "unsendable"
                self._tell(item_id, Attempt("failed", envelope["refusal"], ()))
                return "failed"
        return await self._taken(item_id, envelope, accepted, refused, reply)

    async def _not_taken(self, item_id: str, envelope: dict[str, Any], exc: Exception) -> str:
        """The relay did not take the mail: refused for good, or to be tried again."""
        metrics.REPORT_FAILURES.inc()
        recipients = tuple(envelope["recipients"])
        about_mail = about_the_mail(exc)
        if about_mail:
            self._relay_is(None)  # it answered about the mail: it takes mail
        if refused_for_good(exc):
            envelope["refusal"] = refusal_text(exc)
            self._tell(item_id, Attempt("failed", envelope["refusal"], recipients))
            log.log(
                self._level(logging.ERROR),
                "report %s: the relay refused it for good (%s); kept in %s",
                item_id,
                envelope["refusal"],
                self.outbox / "failed",
            )
            return "failed"
        answer = refusal_text(exc)
        said = relay_trouble_words(exc)
        envelope.pop("for_now", None)
        self._tell(item_id, Attempt("retry", answer, recipients, exc))
        # Refused for good beside others refused for now: a 5xx is final whenever it
        # comes, so those are asked no more and said to the admin now, as when the others
        # take the mail (_taken), not only once the others finally do.
        gone = refused_for_good_of(exc)
        if gone:
            envelope["recipients"] = [who for who in recipients if who not in gone]
        resting = self._told is None and not about_mail
        # The rest's own line says it (one line a pause while the relay is down).
        self._schedule_retry(item_id, envelope, in_log(answer, said), quiet=resting)
        if resting:
            self._rest(answer, said)
        await self._record(self.store.report_attempt, item_id, answer, said)
        if gone:
            refusal = said_refusals(gone)
            refused_some = {"recipients": list(gone), "refusal": refusal, "how": "some_waiting"}
            await self._refused_for_good(item_id, refused_some)
        return "retry"

    async def _taken(
        self,
        item_id: str,
        envelope: dict[str, Any],
        accepted: Callable[[list[str]], Awaitable[None]] | None,
        refused: dict[str, Any],
        reply: str,
    ) -> str:
        """The relay took the mail (for some recipients, at least): marked so first."""
        metrics.REPORTS_SENT.inc()
        self._relay_is(None)
        # Recipients refused while the others took the mail are what a reader must see.
        answer = said_refusals(refused) or str(reply)
        envelope_before = list(envelope["recipients"])
        took = tuple(who for who in envelope_before if who not in refused)
        self._tell(item_id, Attempt("sent_partly" if refused else "sent", answer, took))
        # A recipient refused for now (a 4xx: greylisted, a full mailbox) is tried again,
        # alone: the others have the mail.
        later = [
            who for who in envelope["recipients"] if who in refused and refused[who].code < 500
        ]
        if later:
            envelope["recipients"] = later
            # It waits for its recipients (greylisted), not for the relay: no outage's.
            envelope["for_now"] = True
            for_now = said_refusals({who: refused[who] for who in later})
            self._schedule_retry(item_id, envelope, f"{for_now}; the others have it")
        else:
            envelope["sent"] = answer
        if accepted is not None:
            await accepted(later)
        await self._settle_sent(item_id, answer)
        log.info("report %s sent to %s", item_id, ", ".join(took))
        # Refused for good while the others took it: never tried again, so said to the
        # admin now, as a report refused for every recipient is.
        gone = [who for who in envelope_before if who in refused and refused[who].code >= 500]
        if gone:
            refusal = said_refusals({who: refused[who] for who in gone})
            refused_some = {"recipients": gone, "refusal": refusal, "how": "some"}
            await self._refused_for_good(item_id, refused_some)
        return "retry" if later else "sent"

    async def _settle_sent(self, item_id: str, answer: str) -> None:
        # Recorded like the rest: a store busy past its timeout here once stopped the
        # item's removal from the outbox, and the relay got the same mail again.
        await self._record(self._mark_sent, item_id)
        await self._record(self.store.report_sent, item_id, answer)

    async def _mark_sent(self, item_id: str) -> None:
        await self.store.update_run(item_id, report_state=ReportState.SENT)

    def _keep_failed(self, item_id: str, data: bytes, envelope: dict[str, Any]) -> None:
        """A report refused for good, from the shared outbox: kept in this instance's
        `outbox/failed/` for the admin, as a folder outbox keeps it."""
        failed = self.outbox / "failed"
        failed.mkdir(exist_ok=True)
        write_synced(failed / f"{item_id}.eml", data)
        write_synced(failed / f"{item_id}.json", json.dumps(envelope).encode())
        fsync_dir(failed)

    async def _refused_for_good(self, item_id: str, envelope: dict[str, Any]) -> None:
        """Its run's report_state becomes `failed` (unless its other recipients had it:
        then it stays `sent`) and the admin is alerted (for a digest too: the partner's
        day of runs, never sent again once recorded)."""
        digest = item_id.startswith(DIGEST_PREFIX)
        if item_id.startswith(ALERT_PREFIX) and not digest:
            return  # never an alert about an alert: the admin address itself is refused
        how = envelope.get("how", "all")
        # Refused for some: its try was recorded sent, or it is still retried for others.
        if not digest and how not in ("some", "some_waiting"):
            run = await self.store.get_run(item_id)
            if run is None or run["report_state"] != ReportState.SENT:
                await self.store.update_run(item_id, report_state=ReportState.FAILED)
            await self._record(self.store.report_refused, item_id, envelope["refusal"])
        if self.on_refused is not None:
            await self.on_refused(item_id, envelope["recipients"], envelope["refusal"], how)

    def _schedule_retry(
        self, item_id: str, envelope: dict[str, Any], answer: str, quiet: bool = False
    ) -> None:
        """Set the item's next try; `answer`, the relay's as the log says it."""
        envelope["attempts"] += 1
        report = self.settings.report
        delay = backoff(report.retry_seconds, envelope["attempts"] - 1, report.max_retry_seconds)
        envelope["next_try"] = time.time() + delay
        log.log(
            logging.DEBUG if quiet else self._level(logging.WARNING),
            "report %s: relay refused or unreachable (%s); retry in %.0fs",
            item_id,
            answer,
            delay,
        )

    def _rest(self, answer: str, said: Words | None) -> None:
        """Let the relay rest for `retry_seconds`: the other waiting reports wait."""
        pause = self.settings.report.retry_seconds
        now = time.time()
        self._rests_until = now + pause
        since = self.relay_down.since if self.relay_down is not None else now
        self._relay_is(RelayDown(since, answer, self._rests_until, said))
        log.warning(
            "report outbox: the relay %s cannot take mail now (%s); the waiting reports"
            " are tried again in %.0fs",
            self.settings.report.relay,
            in_log(answer, said),
            pause,
        )

    def _relay_is(self, down: RelayDown | None) -> None:
        if down is None and (self.relay_down is not None or self._outage_left):
            self._back = True
            self._outage_left = False
        self.relay_down = down
        metrics.RELAY_DOWN.set(0 if down is None else 1)

    def _tell(self, item_id: str, attempt: Attempt) -> None:
        if self._told is not None:
            self._told[item_id] = attempt

    def _level(self, level: int) -> int:
        """A try's log level: debug while a command says how its own mail fared."""
        return logging.DEBUG if self._told is not None else level

    async def _record(
        self, write: Callable[..., Awaitable[None]], item_id: str, *args: object
    ) -> None:
        """Note in `run_reports` how a run's report mail fares, for the run's page.

        Only a record: a database that cannot take it must not keep the mail from
        going, so the trouble is logged and the mail goes on its way."""
        if item_id.startswith(ALERT_PREFIX):
            return
        try:
            await write(item_id, *args)
        except Exception as exc:
            if own_folder_trouble(exc):  # a full disk: said in a line, not a traceback
                log.warning("report %s: could not record how its mail fared: %s", item_id, exc)
            else:
                log_failure(log, exc, "report %s: could not record how its mail fared", item_id)


def relay_security(settings: Settings) -> dict[str, Any]:
    """aiosmtplib's TLS and login options for `report.tls`, `report.user`, `report.password`.

    "off": STARTTLS when the relay offers it, its certificate not checked (opportunistic,
    as between mail servers), and plain when it does not; never a login. "required":
    STARTTLS always, the certificate checked against the system's CAs or `report.tls_ca`
    and its name against the relay's host; a relay that does not offer it, or a
    certificate that does not verify, fails the attempt before any MAIL or AUTH, so the
    report waits in the outbox. "implicit": TLS from the first byte (SMTPS, port 465,
    RFC 8314), the certificate checked likewise. Only then does a login go, inside TLS."""
    report = settings.report
    if report.tls == "off":
        return {"start_tls": None, "validate_certs": False}
    ca = settings.path(report.tls_ca) if report.tls_ca else None
    options: dict[str, Any] = {"tls_context": client_context(ca)}
    if report.tls == "implicit":
        options |= {"use_tls": True, "start_tls": False}
    else:
        options |= {"start_tls": True}
    if report.user is not None:
        options |= {"username": report.user, "password": resolve_secret(report.password) or ""}
    return options


def refused_for_good(exc: Exception) -> bool:
    """A 5xx about this message (every recipient, or its content), which no retry can
    change. A 5xx to our greeting, login or sender is the relay's or our setup's trouble
    and is retried: once fixed, the waiting reports go."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(r.code >= 500 for r in exc.recipients)
    return isinstance(exc, aiosmtplib.SMTPDataError) and exc.code >= 500


def relay_trouble_words(exc: BaseException) -> Words | None:
    """Why the relay could not be reached, in the catalog's words (a refusal, a
    timeout, …), or None: then its answer is the relay's own (a 421, a 530)."""
    if isinstance(exc, TimeoutError):
        return Words("os.timed_out")
    # The relay's own answers (to the mail, or each recipient's): said as it gave them.
    if isinstance(exc, aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused):
        return None
    # aiosmtplib has no class of its own for this: only its text tells it apart.
    if type(exc) is aiosmtplib.SMTPException and "STARTTLS extension" in str(exc):
        return Words("relay.no_starttls")
    # TLS fails inside connect only with report.tls = "implicit" (STARTTLS comes later).
    if isinstance(exc, aiosmtplib.SMTPConnectError) and _no_tls_answer(exc):
        return Words("relay.no_implicit_tls")
    words = OsTrouble(exc).words
    if isinstance(words, Words):
        return words
    # The library's English said inside a sentence of the catalog's, not alone.
    if isinstance(exc, aiosmtplib.SMTPException):
        return Words("relay.smtp_other", {"text": str(exc)})
    return None


# OpenSSL's reasons when what answered our ClientHello was no TLS at all (a plain SMTP
# greeting, "220 …"): 3.0 says the first, later versions one of the others.
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"})


def _no_tls_answer(exc: BaseException) -> bool:
    tls = tls_error_in(exc)
    return tls is not None and getattr(tls, "reason", None) in _NOT_TLS


def in_log(answer: str, said: Words | None) -> str:
    """The relay's answer (`refusal_text`) or why it could not be reached, as the log
    says it: in English, its code and text as given, never a Python repr. OpenSSL's
    "wrong version number" for a relay that answered TLS in plain SMTP names neither
    cause nor cure: the catalog's sentence does."""
    if said is not None and (said.key == "relay.no_implicit_tls" or not answer):
        return said.say("en")
    return answer


def about_the_mail(exc: Exception) -> bool:
    """A refusal of this mail (its recipients, its content), which another may not
    meet; anything else (the relay down, unreachable or silent, or refusing our
    greeting, TLS, login or sender) would meet every other waiting report too."""
    return isinstance(exc, aiosmtplib.SMTPRecipientsRefused | aiosmtplib.SMTPDataError)


def refusal_text(exc: Exception) -> str:
    """What the relay answered, as an admin reads it: `who: 550 5.1.1 no such user`."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return said_refusals({r.recipient: r for r in exc.recipients})
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return str(exc)


def refused_for_good_of(exc: Exception) -> dict[str, Any]:
    """The recipients the relay refused with a 5xx when it took the mail for none (the
    others refused for now), each with its answer."""
    if not isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return {}
    return {r.recipient: r for r in exc.recipients if r.code >= 500}


def said_refusals(refused: Mapping[str, Any]) -> str:
    """Recipients' refusals as an admin reads them: `who: 550 5.1.1 no such user; …`
    (`refused`: each recipient's answer, with its code and message)."""
    return "; ".join(f"{who}: {r.code} {r.message}" for who, r in refused.items())


def _readable(envelope: Any) -> dict[str, Any]:
    """`envelope` if it has what a try needs; ValueError saying what not."""
    if not isinstance(envelope, dict):
        raise ValueError("the envelope is not a JSON object")
    fields = ("recipients", "attempts", "next_try")
    if missing := [name for name in fields if name not in envelope]:
        raise ValueError(f"the envelope has no {', '.join(missing)}")
    recipients, attempts, next_try = (envelope[name] for name in fields)
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise ValueError("the envelope's recipients are not a list of addresses")
    if not isinstance(attempts, int) or not isinstance(next_try, int | float):
        raise ValueError("the envelope's attempts or next try is not a number")
    return envelope


def _note_accepted(envelope_path: Path, envelope: dict[str, Any]) -> None:
    """Write the item's envelope, durably, once the relay took the mail (it then says
    so, or names the recipients still to have it): a stop while its run's record
    waits behind a busy store must not have it sent again at the start."""
    try:
        replace_durably(envelope_path, json.dumps(envelope).encode())
    except OSError as exc:  # a full disk: the mail went; it is only not remembered
        log.error("report %s: sent, but this could not be noted: %s", envelope_path.stem, exc)


def _remove_item(envelope_path: Path) -> None:
    """Remove a settled item: its envelope first (an item without one is no item)."""
    envelope_path.unlink(missing_ok=True)
    envelope_path.with_suffix(".eml").unlink(missing_ok=True)


def _next_try(envelope_path: Path) -> float:
    """When the item of an envelope is next due; now when it cannot be read (the try
    then says what is wrong, or finds it gone)."""
    try:
        return float(json.loads(envelope_path.read_bytes())["next_try"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0
