"""Calls (楽楽販売's http送信): after a completed import, one HTTP request per row of
the run or one per run — GET with the parameters in the query string, or POST with
them as form fields or as JSON — each logged with its answer under the import's run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from daemon.outward.deliver import Deliverer
from daemon.outward.fill import fill, fill_json, fill_url, query_url, row_values, run_values
from daemon.outward.jobs import DONE, Job, Request
from daemon.outward.multipart import form_data
from daemon.settings import Settings
from daemon.settings.model import Call
from daemon.store.base import Store

log = logging.getLogger(__name__)


class Calls:
    def __init__(
        self, settings: Callable[[], Settings], store: Store, deliverer: Deliverer
    ) -> None:
        self._settings = settings
        self.store = store
        self.deliverer = deliverer
        deliverer.on_finished("call", self.finished)

    async def start(self, name: str, run: dict[str, Any]) -> str | None:
        """Build and spool call `name` for the completed import `run`; the job's id."""
        settings = self._settings()
        call = settings.calls[name]
        layout = settings.layouts.get(run["layout"])
        columns = [c.name for c in layout.columns] if layout else []
        found = await self.store.send_rows(run["layout"], columns, None, {}, run["id"])
        rows = [dict(zip(columns, row, strict=True)) for row in found]
        values = run_values(settings.daemon.timezone, run, None)
        job = Job(f"{run['id']}-call-{name}", "call", name, run["id"], ordered=False)
        job.concurrency = call.concurrency
        bodies: dict[int, bytes] = {}
        each = [row_values(row) for row in rows] if call.per == "row" else [{}]
        for seq, extra in enumerate(each, start=1):
            request, body = _request(call, values | extra, rows, seq)
            job.requests.append(request)
            if body is not None:
                bodies[seq] = body
        if not job.requests:
            return None
        await self.deliverer.add(job, bodies)
        log.info("call %s after run %s: %d requests", name, run["id"], len(job.requests))
        return job.id

    async def finished(self, job: Job) -> None:
        done = sum(1 for r in job.requests if r.state == DONE)
        log.info(
            "call %s after run %s: %d of %d requests answered 2xx",
            job.name,
            job.run_id,
            done,
            len(job.requests),
        )


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
