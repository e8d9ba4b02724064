"""A send: a layout's rows as CSV to another system's API, recorded as a run whose
direction is `send`.

`start()` reads the rows (all that match, or those of the import that triggered it),
cuts them into parts within the send's limits, builds each request exactly as it will
go (multipart with the parameters as fields or as JSON in one field, the CSV part
under its name and encoding), spools the job and only then lets the deliverer try.
When the last part is answered, `finished()` settles the run and its report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from daemon.outward import csvparts
from daemon.outward.deliver import Deliverer
from daemon.outward.fill import fill, fill_url, run_values
from daemon.outward.jobs import DONE, Job, Request
from daemon.outward.multipart import form_data
from daemon.settings import Settings
from daemon.settings.model import Send
from daemon.spool.queue import new_id, now_iso
from daemon.store.base import Store
from daemon.store.runs import ReportState, RunState
from importers.layouts import display_name
from importers.messages import message

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
        deliverer.on_finished("send", self.finished)

    async def start(self, name: str, trigger: Trigger) -> str:
        """Build and spool send `name`; its run's id. Raises KeyError for no such send."""
        settings = self._settings()
        send = settings.sends[name]
        language = settings.report.language
        layout = settings.layouts[send.layout]
        by_name = {c.name: c for c in layout.columns}
        columns = send.columns or list(by_name)
        labels = [send.labels.get(c) or display_name(by_name[c]) for c in columns]
        values = run_values(settings.daemon.timezone, trigger.run, send.account)
        where = dict(send.where) | dict(trigger.where or {})
        run_id = new_id()
        account = send.account or (trigger.run or {}).get("account") or ""
        source = trigger.run["id"] if trigger.run and send.rows == "run" else None
        filename = fill(send.filename, values | {"run.id": values.get("run.id") or run_id})
        run = {
            "id": run_id,
            "account": account,
            "channel": "send",
            "sender": trigger.by,
            "filename": filename,
            "layout": send.layout,
            "encoding": send.encoding,
            "state": RunState.RUNNING,
            "received_at": now_iso(),
            "started_at": now_iso(),
            "options": json.dumps(
                {"send": name, "executor_to": list(trigger.executor_to), "where": where},
                ensure_ascii=False,
            ),
            "retry_of": None,
        }
        try:
            rows = await self.store.send_rows(send.layout, columns, send.account, where, source)
            header = labels if send.header else None
            replaced: list[str] = []
            parts = csvparts.parts(
                header, rows, send.encoding, send.max_rows, send.max_bytes, replaced
            )
        except Exception as exc:  # a row too wide, a layout table not there yet: said in the run
            run |= {"state": RunState.FAILED, "finished_at": now_iso(), "report_state": _PENDING}
            run["message"] = message("send.not_built", language, detail=str(exc))
            await self.store.add_send_run(run)
            await self._report(run_id)
            return run_id
        run["rows_total"] = len(rows)
        if not rows:
            run |= {"state": RunState.COMPLETED, "finished_at": now_iso(), "report_state": _PENDING}
            run["message"] = message("send.no_rows", language)
            await self.store.add_send_run(run)
            await self._report(run_id)
            return run_id
        notes = []
        if len(parts) > 1:
            notes.append(
                message(
                    "send.split",
                    language,
                    parts=len(parts),
                    rows=send.max_rows,
                    bytes=send.max_bytes,
                )
            )
        if replaced:
            shown = "".join(dict.fromkeys(replaced))[:10]
            notes.append(
                message(
                    "send.replaced", language, count=len(replaced), chars=shown, encoding="CP932"
                )
            )
        run["message"] = " ".join(notes)
        values["run.id"] = values.get("run.id") or run_id
        job = Job(run_id, "send", name, run_id, ordered=True)
        bodies = {}
        names = []
        for seq, part in enumerate(parts, start=1):
            each = values | {"part": seq, "parts": len(parts)}
            names.append(fill(send.filename, each))
            body, content_type = _body(send, each, names[-1], part.data)
            bodies[seq] = body
            url = fill_url(send.url, each)
            headers = {k: v for k, v in send.headers.items()}
            job.requests.append(
                Request(seq, send.method, url, headers, content_type, part.rows, len(body))
            )
        # Named as its parts were: `{part}` of `{parts}`, the first and the last.
        run["filename"] = names[0] if names[0] == names[-1] else f"{names[0]} … {names[-1]}"
        await self.store.add_send_run(run)
        await self.deliverer.add(job, bodies)
        log.info("send %s: run %s, %d rows in %d requests", name, run_id, len(rows), len(parts))
        return run_id

    async def finished(self, job: Job) -> None:
        run = await self.store.get_run(job.run_id)
        if run is None or run["state"] not in (RunState.RUNNING, RunState.QUEUED):
            return
        language = self._settings().report.language
        sent = sum(r.rows for r in job.requests if r.state == DONE)
        total = run["rows_total"]
        failed = next((r for r in job.requests if r.state != DONE), None)
        if failed is None:
            state = RunState.COMPLETED
            text = message("send.done", language, sent=sent, requests=len(job.requests))
        elif job.name not in self._settings().sends:
            state = RunState.ABORTED  # 強制終了: its send was removed from the config
            text = message("send.aborted", language, name=job.name, sent=sent, total=total)
        else:
            state = RunState.FAILED
            status = failed.status if failed.status is not None else failed.answer[:200]
            text = message(
                "send.failed", language, seq=failed.seq, status=status, sent=sent, total=total
            )
        if run["message"]:
            text = f"{run['message']} {text}"
        await self.store.update_run(
            job.run_id,
            state=state,
            rows_imported=sent,
            rows_failed=total - sent,
            finished_at=now_iso(),
            message=text,
            report_state=ReportState.PENDING,
        )
        await self._report(job.run_id)


def _body(send: Send, values: dict[str, Any], filename: str, data: bytes) -> tuple[bytes, str]:
    params = {key: fill(value, values) for key, value in send.params.items()}
    if send.body == "json":
        fields = {send.json_field: json.dumps(params, ensure_ascii=False)} if params else {}
    else:
        fields = params
    return form_data(fields, send.file_field, filename, data, CSV_TYPES[send.encoding])
