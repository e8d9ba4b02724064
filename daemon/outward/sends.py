"""A send: a layout's rows as CSV to another system's API, recorded as a run whose
direction is `send`.

`start()` reads the rows (all that match, or those of the import that triggered it),
cuts them into parts within the send's limits, builds each request exactly as it will
go (multipart with the parameters as fields or as JSON in one field, the CSV part
under its name and encoding), spools the job and only then lets the deliverer try.
Each part answered 2xx is counted in the run at once (`answered()`); when the last
part is answered, `finished()` settles the run and its report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from daemon.outward import csvparts
from daemon.outward.deliver import Deliverer, NotSpooled
from daemon.outward.fill import fill, fill_url, run_values
from daemon.outward.jobs import DONE, Job, Request
from daemon.outward.multipart import form_data
from daemon.settings import Settings
from daemon.settings.model import Column, Send
from daemon.settings.problems import OsTrouble
from daemon.spool.queue import new_id, now_iso
from daemon.store.base import Store
from daemon.store.outward import NOT_SPOOLED
from daemon.store.runs import ReportState, RunState
from importers.errors import CellError
from importers.layouts import converter, display_name
from importers.messages import Sentences, Words, words_json, words_of

log = logging.getLogger(__name__)
_PENDING = ReportState.PENDING.value
CSV_TYPES = {"cp932": "text/csv; charset=Shift_JIS", "utf-8": "text/csv; charset=UTF-8"}


@dataclass(frozen=True)
class Trigger:
    """Who or what starts a send, and the run it follows, if any."""

    by: str  # the executor: "admin" (the API, and `renkei send` through it), "schedule", "forward"
    run: dict[str, Any] | None = None  # the completed import that triggered it
    where: dict[str, str] | None = None  # extra column filters given by hand
    executor_to: tuple[str, ...] = ()  # the executor's addresses for the report


def forwarded_key(import_id: str, name: str) -> str:
    """The key of send `name`'s run after import `import_id` (its `idempotency_key`)."""
    return f"after:{import_id}:{name}"


class NeedsRun(Exception):
    """A send of the rows of "the import that triggered it" (`rows = "run"`) started
    with no import: nothing to send, and no run is made (all the layout's rows, every
    account's, went once)."""


class Sends:
    def __init__(
        self,
        settings: Callable[[], Settings],
        store: Store,
        deliverer: Deliverer,
        report: Callable[[str], Any],
    ) -> None:
        self._settings = settings
        self.store = store
        self.deliverer = deliverer
        self._report = report
        deliverer.on_answered("send", self.answered)
        deliverer.on_finished("send", self.finished)

    async def start(self, name: str, trigger: Trigger) -> str:
        """Build and spool send `name`; its run's id. Raises KeyError for no such send."""
        settings = self._settings()
        send = settings.sends[name]
        if send.rows == "run" and trigger.run is None:
            raise NeedsRun(name)
        language = settings.report.language
        layout = settings.layouts[send.layout]
        by_name = {c.name: c for c in layout.columns}
        columns = send.columns or list(by_name)
        labels = [send.labels.get(c) or display_name(by_name[c]) for c in columns]
        values = run_values(settings.daemon.timezone, trigger.run, send.account)
        where = dict(send.where) | dict(trigger.where or {})
        run_id = new_id()
        values["run.id"] = values.get("run.id") or run_id
        account = send.account or (trigger.run or {}).get("account") or ""
        source = trigger.run["id"] if trigger.run and send.rows == "run" else None
        forwarded = trigger.by == "forward" and trigger.run is not None
        run = {
            "id": run_id,
            "account": account,
            "channel": "send",
            "sender": trigger.by,
            "filename": fill(send.filename, values),
            "layout": send.layout,
            "encoding": send.encoding,
            "state": RunState.RUNNING,
            "received_at": now_iso(),
            "started_at": now_iso(),
            "retry_of": None,
            # The import it follows, once per send: a start after a stop looks for it
            # before starting the send again (triggers._follow).
            "idempotency_key": forwarded_key(trigger.run["id"], name) if forwarded else "",
        }
        # What its report needs, kept with the run: a send removed by a reload while it
        # retries is still reported to whom it said.
        options = {
            "send": name,
            "executor_to": list(trigger.executor_to),
            "where": where,
            "report": send.report,
            "report_to": send.report_to,
        }
        fixed = _as_stored(dict(send.where), by_name)
        given = _as_stored(dict(trigger.where or {}), by_name)
        numeric = frozenset(c for c in where if c in by_name and by_name[c].type == "decimal")
        try:
            if _contradicts(fixed, given, numeric):
                rows = []
            else:
                rows = await self.store.send_rows(
                    send.layout, columns, send.account, fixed | given, source, numeric
                )
        except Exception as exc:  # a layout table not there yet: said in the run
            words = Words("send.not_built", {"detail": str(exc)})
            return await self._unbuilt(run, options, words, language)
        run["rows_total"] = len(rows)
        if not rows:
            run |= {"state": RunState.COMPLETED, "finished_at": now_iso(), "report_state": _PENDING}
            _say(run, [Words("send.no_rows")], language)
            await self._add(run, options)
            await self._report(run_id)
            return run_id
        replaced: list[str] = []
        header = labels if send.header else None
        try:
            parts = _split(send, values, header, rows, replaced)
        except csvparts.TooWide as exc:
            run["rows_failed"] = len(rows)
            row = rows[exc.position - 1] if exc.position else None
            words = _too_wide(exc, send, _named(row, columns, labels, layout.key))
            return await self._unbuilt(run, options, words, language)
        options |= _notes(send, len(parts), replaced)
        _say(run, _notes_said(options, "send.split"), language)
        job, bodies, names = _job(send, name, run_id, values, parts)
        # Named as its parts were: `{part}` of `{parts}`, the first and the last.
        run["filename"] = names[0] if names[0] == names[-1] else f"{names[0]} … {names[-1]}"
        run |= {"rows_imported": 0, "rows_failed": len(rows)}  # all still to go
        await self._add(run, options)
        try:
            await self.deliverer.add(job, bodies)
        except NotSpooled as exc:
            cause = OsTrouble(exc.__cause__ or exc).render(language)
            words = Words("send.not_spooled", {"detail": cause})
            await self._fail(run_id, len(rows), words, language)
            raise
        log.info("send %s: run %s, %d rows in %d requests", name, run_id, len(rows), len(parts))
        return run_id

    async def _fail(self, run_id: str, total: int, words: Words, language: str) -> None:
        """A run whose job was never spooled ends failed, with nothing sent."""
        said = Sentences([words], " ")
        await self.store.update_run(
            run_id,
            state=RunState.FAILED,
            problem=NOT_SPOOLED,
            rows_imported=0,
            rows_failed=total,
            finished_at=now_iso(),
            message=said.say(language),
            said=words_json(said),
            report_state=ReportState.PENDING,
        )
        await self._report(run_id)

    async def end_unspooled(self, before: str, kept: Callable[[str], Any]) -> None:
        """Runs a crash (kill -9, a power cut) left `running` between their record and
        their job's spooling: no job of theirs is kept, so none will ever end them. Only
        those started `before` this start: one started since is being spooled now."""
        runs, _ = await self.store.list_runs(
            {"channel": "send", "state": RunState.RUNNING.value}, 1000
        )
        language = self._settings().report.language
        for run in runs:
            if run["started_at"] and run["started_at"] < before and not await kept(run["id"]):
                log.warning("send run %s was never spooled (the daemon stopped); failed", run["id"])
                total = run["rows_total"] or 0
                # One that follows an import is started again by itself, as the import's
                # sends and calls are now (triggers.start): "start it again" would send
                # it twice.
                key = (
                    "send.not_spooled.again"
                    if run["idempotency_key"]
                    else "send.not_spooled.stopped"
                )
                await self._fail(run["id"], total, Words(key), language)

    async def _add(self, run: dict[str, Any], options: dict[str, Any]) -> None:
        options_json = json.dumps(options, ensure_ascii=False)
        await self.store.add_send_run(run | {"options": options_json})

    async def _unbuilt(
        self, run: dict[str, Any], options: dict[str, Any], words: Words, language: str
    ) -> str:
        """The send failed before a request was built: said in its run and report."""
        run |= {"state": RunState.FAILED, "finished_at": now_iso(), "report_state": _PENDING}
        _say(run, [words], language)
        await self._add(run, options)
        await self._report(run["id"])
        return run["id"]

    async def answered(self, job: Job) -> None:
        """A part was answered 2xx: the run counts its rows as sent now, and the rest as
        still to go. Counted only at the end, a send retrying for hours said 0 sent
        after parts had gone; one update per part costs little beside its request."""
        sent = sum(r.rows for r in job.requests if r.state == DONE)
        total = sum(r.rows for r in job.requests)
        await self.store.send_progress(job.run_id, sent, total - sent)

    async def finished(self, job: Job) -> None:
        run = await self.store.get_run(job.run_id)
        if run is None or run["state"] not in (RunState.RUNNING, RunState.QUEUED):
            return
        language = self._settings().report.language
        sent = sum(r.rows for r in job.requests if r.state == DONE)
        total = run["rows_total"]
        removed = job.name not in self._settings().sends
        state, outcome = _outcome(job, sent, total, removed)
        failed = state != RunState.COMPLETED
        # Told now as what was done, no longer as what is to be done.
        split = "send.split.tried" if failed else "send.split.sent"
        replaced = "send.replaced.tried" if failed else "send.replaced.sent"
        options = json.loads(run["options"] or "{}")
        notes = _notes_said(options, split, replaced) if "report" in options else []
        words = Sentences([*notes, outcome], " ")
        text = words.say(language)
        if "report" not in options and run["message"]:
            # Started before its notes were kept as values: said as written.
            text, words = f"{run['message']} {text}", Sentences([])
        await self.store.update_run(
            job.run_id,
            state=state,
            rows_imported=sent,
            rows_failed=total - sent,
            finished_at=now_iso(),
            message=text,
            said=words_json(words),
            report_state=ReportState.PENDING,
        )
        await self._report(job.run_id)


def _outcome(job: Job, sent: int, total: int, removed: bool) -> tuple[RunState, Words]:
    """How a send whose every request was answered (or given up) ended, in words."""
    parts = len(job.requests)
    failed = next((r for r in job.requests if r.state != DONE), None)
    if failed is None:
        return RunState.COMPLETED, Words("send.done", {"sent": sent, "requests": parts})
    if removed:  # 強制終了: its send was removed from the config
        params = {"name": job.name, "sent": sent, "total": total}
        return RunState.ABORTED, Words("send.aborted", params)
    status = failed.status
    if status is None:  # no answer came: renkei's words for why, said in each language
        status = words_of(failed.said) or failed.answer[:200]
    params = {"seq": failed.seq, "parts": parts, "status": status, "sent": sent, "total": total}
    return RunState.FAILED, Words("send.part_failed", params)


def _contradicts(
    fixed: dict[str, str | None], given: dict[str, str | None], numeric: frozenset[str]
) -> bool:
    """Whether a filter given by hand asks a column the send's own `where` fixes for
    another value: it narrows the send's rows, never widens them (it took the
    config's place, and sent rows the config keeps back), so no row has both."""
    for column, value in given.items():
        if column not in fixed or fixed[column] == value:
            continue
        if column in numeric and None not in (value, fixed[column]):
            try:
                if Decimal(str(value)) == Decimal(str(fixed[column])):
                    continue
            except ArithmeticError:
                pass
        return True
    return False


def _as_stored(where: dict[str, str], columns: dict[str, Column]) -> dict[str, str | None]:
    """Each filter value as its column stores it: `2024/05/16` finds the dates stored as
    2024-05-16, `1,000` the number 1000. A value its column would refuse is kept as
    written (and finds nothing a column of that type holds). An empty value is None:
    the rows whose cell is empty, NULL in a number or date column, '' in a text one."""
    found: dict[str, str | None] = {}
    for name, value in where.items():
        column = columns.get(name)
        try:
            stored = converter(column)(value) if column is not None else value
        except (CellError, ValueError):
            stored = value
        found[name] = None if stored is None or stored == "" else str(stored)
    return found


def _split(
    send: Send,
    values: dict[str, Any],
    header: list[str] | None,
    rows: list[tuple[Any, ...]],
    replaced: list[str],
) -> list[csvparts.Part]:
    """The rows in parts whose whole requests (framing and parameters with the CSV) fit
    `max_bytes`. The framing is counted for the last part's number, the longest when
    `{part}` is in the file name or a parameter; split again if the parts outnumber it
    (guessed from `max_rows` first, so that most sends are cut once)."""
    count = max(1, -(-len(rows) // send.max_rows))
    while True:
        replaced.clear()
        limit = send.max_bytes - _framing(send, values, count)
        parts = csvparts.parts(header, rows, send.encoding, send.max_rows, limit, replaced)
        if len(parts) <= count:
            return parts
        count = len(parts)


def _framing(send: Send, values: dict[str, Any], count: int) -> int:
    """The bytes of a request around its CSV, for part `count` of `count`."""
    each = values | {"part": count, "parts": count}
    body, _ = _body(send, each, fill(send.filename, each), b"")
    return len(body)


def _job(
    send: Send, name: str, run_id: str, values: dict[str, Any], parts: list[csvparts.Part]
) -> tuple[Job, dict[int, bytes], list[str]]:
    """The send's job: one request per part, each body built as it will go."""
    job = Job(run_id, "send", name, run_id, ordered=True)
    bodies = {}
    names = []
    for seq, part in enumerate(parts, start=1):
        each = values | {"part": seq, "parts": len(parts)}
        names.append(fill(send.filename, each))
        body, content_type = _body(send, each, names[-1], part.data)
        bodies[seq] = body
        url = fill_url(send.url, each)
        headers = dict(send.headers)
        job.requests.append(
            Request(seq, send.method, url, headers, content_type, part.rows, len(body))
        )
    return job, bodies, names


def _named(
    row: tuple[Any, ...] | None, columns: list[str], labels: list[str], key: list[str]
) -> str:
    """A row as a person finds it: its key columns (else its first) with their values."""
    if row is None:
        return ""
    shown = [c for c in key if c in columns] or columns[:1]
    cells = []
    for column in shown:
        at = columns.index(column)
        value = "" if row[at] is None else str(row[at])
        cells.append(f"{labels[at]}={value[:40]}")
    return ", ".join(cells)


def _too_wide(exc: csvparts.TooWide, send: Send, named: str) -> Words:
    # What else goes into every request: the framing and parameters, and the header row.
    other = send.max_bytes - exc.limit + exc.head
    if exc.position == 0:
        return Words("send.header_too_wide", {"other": other, "limit": send.max_bytes})
    params = {"position": exc.position, "row": named, "bytes": exc.size, "other": other}
    return Words("send.row_too_wide", params | {"limit": send.max_bytes})


def _notes(send: Send, parts: int, replaced: list[str]) -> dict[str, Any]:
    """What the run says besides its outcome, kept as values: said at the start as
    what is to be done, at the end as what was done."""
    notes: dict[str, Any] = {}
    if parts > 1:
        notes["split"] = {"parts": parts, "rows": send.max_rows, "bytes": send.max_bytes}
    if replaced:
        shown = "".join(dict.fromkeys(replaced))[:10]
        notes["replaced"] = {"count": len(replaced), "chars": shown, "encoding": "CP932"}
    return notes


def _notes_said(
    options: dict[str, Any], split: str, replaced: str = "send.replaced"
) -> list[Words]:
    found = []
    if "split" in options:
        found.append(Words(split, options["split"]))
    if "replaced" in options:
        found.append(Words(replaced, options["replaced"]))
    return found


def _say(run: dict[str, Any], words: list[Words], language: str) -> None:
    """The run's message: `words` said in `language`, a space between, and kept."""
    sentences = Sentences(words, " ")
    run["message"] = sentences.say(language)
    run["said"] = words_json(sentences)


def _body(send: Send, values: dict[str, Any], filename: str, data: bytes) -> tuple[bytes, str]:
    params = {key: fill(value, values) for key, value in send.params.items()}
    if send.body == "json":
        fields = {send.json_field: json.dumps(params, ensure_ascii=False)} if params else {}
    else:
        fields = params
    return form_data(fields, send.file_field, filename, data, CSV_TYPES[send.encoding])
