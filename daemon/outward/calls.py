"""Calls (楽楽販売's http送信): after a completed import, one HTTP request per row of
the run or one per run — GET with the parameters in the query string, or POST with
them as form fields or as JSON — each logged with its answer under the import's run.
A call whose requests fail for good, or that cannot be built or spooled at all, is
told to the admins (report/alerts.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from daemon.outward.deliver import ANSWER_BYTES, Deliverer, NotSpooled, request_record
from daemon.outward.fill import (
    UnknownPlaceholder,
    fill,
    fill_json,
    fill_url,
    query_url,
    row_values,
    run_values,
)
from daemon.outward.jobs import DONE, FAILED, Job, Request
from daemon.outward.multipart import form_data
from daemon.report.alerts import Alerts
from daemon.settings import Settings
from daemon.settings.model import Call
from daemon.store.base import Store
from importers.messages import message

log = logging.getLogger(__name__)


class Calls:
    def __init__(
        self,
        settings: Callable[[], Settings],
        store: Store,
        deliverer: Deliverer,
        alerts: Alerts,
    ) -> None:
        self._settings = settings
        self.store = store
        self.deliverer = deliverer
        self.alerts = alerts
        deliverer.on_finished("call", self.finished)

    async def start(self, name: str, run: dict[str, Any]) -> str | None:
        """Build and spool call `name` for the completed import `run`; the job's id.
        One that cannot be built or spooled is recorded under the run as a failed
        request and told to the admins; raises only when even that cannot be done."""
        settings = self._settings()
        call = settings.calls[name]
        job = Job(f"{run['id']}-call-{name}", "call", name, run["id"], ordered=False)
        job.concurrency = call.concurrency
        try:
            bodies = await self._build(job, call, run, settings)
        except Exception as exc:  # noqa: BLE001 - whatever it is, the call did not start
            await self._not_started(job, call, exc)
            return None
        if not job.requests:
            # A call per row after an import that left no row of its own (a delete's
            # rows are gone): nothing to send, said rather than passed over unsaid.
            log.info("call %s after run %s: the run holds no row: no request", name, run["id"])
            return None
        try:
            await self.deliverer.add(job, bodies)
        except NotSpooled as exc:
            await self._not_started(job, call, exc)
            return None
        log.info("call %s after run %s: %d requests", name, run["id"], len(job.requests))
        return job.id

    async def _build(
        self, job: Job, call: Call, run: dict[str, Any], settings: Settings
    ) -> dict[int, bytes]:
        """The call's requests into `job`; their bodies by request."""
        layout = settings.layouts.get(run["layout"])
        columns = [c.name for c in layout.columns] if layout else []
        found = await self.store.send_rows(run["layout"], columns, None, {}, run["id"])
        rows = [dict(zip(columns, row, strict=True)) for row in found]
        values = run_values(settings.daemon.timezone, run, None)
        bodies: dict[int, bytes] = {}
        # A request per row carries that row alone, its list template (`rows = [{…}]`)
        # too: each had carried the whole run's rows.
        each = [(row_values(row), [row]) for row in rows] if call.per == "row" else [({}, rows)]
        for seq, (extra, carried) in enumerate(each, start=1):
            request, body = _request(call, values | extra, carried, seq)
            job.requests.append(request)
            if body is not None:
                bodies[seq] = body
        return bodies

    async def _not_started(self, job: Job, call: Call, exc: Exception) -> None:
        """One failed request under the run, the reason as its answer, and the admins
        told: such a call was only a traceback in the log, its run marked done as if sent."""
        log.error("call %s after run %s could not be started", job.name, job.run_id, exc_info=exc)
        language = self._settings().report.language
        # The disk's trouble is not the config's: said as a send's is.
        key = "call.not_spooled" if isinstance(exc, NotSpooled) else "call.not_started"
        detail = message(key, language, detail=_why(exc, language))
        failed = Request(1, call.method, call.url, {}, None, 0, 0, state=FAILED)
        failed.answer = detail[:ANSWER_BYTES]
        job.requests = [failed]
        await self.store.log_requests([request_record(job, failed)])
        await self.finished(job)

    async def finished(self, job: Job) -> None:
        done = sum(1 for r in job.requests if r.state == DONE)
        failed = [r for r in job.requests if r.state == FAILED]
        log.info(
            "call %s after run %s: %d of %d requests answered 2xx",
            job.name,
            job.run_id,
            done,
            len(job.requests),
        )
        if failed:
            first = min(failed, key=lambda r: r.seq)
            answer = f"{first.status} {first.answer}" if first.status is not None else first.answer
            total = len(job.requests)
            await self.alerts.call_failed(job.name, job.run_id, len(failed), total, answer)


def _request(
    call: Call, values: dict[str, Any], rows: list[dict[str, Any]], seq: int
) -> tuple[Request, bytes | None]:
    params = {key: fill(value, values) for key, value in call.params.items()}
    url = fill_url(call.url, values)
    headers = dict(call.headers)
    count = len(rows) if call.per == "run" else 1
    if call.method == "GET":
        return Request(seq, "GET", query_url(url, params), headers, None, count, 0), None
    if call.body == "json":
        document = fill_json(call.json_template, values, rows) if call.json_template else params
        body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        content_type = "application/json; charset=utf-8"
    else:
        body, content_type = form_data(params)
    return Request(seq, "POST", url, headers, content_type, count, len(body)), body


def _why(exc: BaseException, language: str) -> str:
    """Why a call did not start, as its listed request and the admins' alert say it."""
    if isinstance(exc, NotSpooled) and exc.__cause__ is not None:
        return _why(exc.__cause__, language)  # the disk's own trouble
    if isinstance(exc, UnknownPlaceholder):
        return message("call.no_value", language, name=exc.args[0])
    return f"{type(exc).__name__}: {exc}"[:300]
