"""Report mail of a send (楽楽販売's システム連携 report): to the executor, the admin
addresses or both, always or only on errors, saying what was sent where and how each
request was answered. Built by the reporter for runs whose direction is `send`.
"""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from daemon.report.message import clean, executor_words, flat, local_time, run_message
from daemon.report.subject import set_subject
from daemon.settings import Settings
from daemon.store.runs import RunState, send_name
from importers.messages import message


def recipients(settings: Settings, run: dict[str, Any]) -> list[str]:
    """Whom a send run's report goes to; [] when none is due.

    By the send's config, else (removed by a reload while it retried) by what its run
    kept when it started. A send that ended with rows unsent because it was removed is
    told to the admins at least, whatever it said: someone must know they are unsent."""
    options = json.loads(run["options"] or "{}")
    send = settings.sends.get(options.get("send", ""))
    report = send.report if send is not None else options.get("report", "never")
    report_to = send.report_to if send is not None else options.get("report_to", "admin")
    found: list[str] = []
    due = report == "always" or (report == "errors" and run["state"] != RunState.COMPLETED)
    if due and report_to in ("executor", "both"):
        found += options.get("executor_to", [])
    if due and report_to in ("admin", "both"):
        found += settings.report.admin_to
    unsent = run["state"] == RunState.ABORTED and run["rows_imported"] < run["rows_total"]
    if unsent and not found:
        found += settings.report.admin_to
    return list(dict.fromkeys(found))


def build(
    run: dict[str, Any],
    requests: Sequence[dict[str, Any]],
    to: Sequence[str],
    settings: Settings,
) -> EmailMessage:
    language = settings.report.language
    zone = zoneinfo.ZoneInfo(settings.daemon.timezone)
    name = send_name(run)
    done = run["state"] == RunState.COMPLETED
    params = {"name": flat(name), "sent": run["rows_imported"], "total": run["rows_total"]}
    msg = EmailMessage()
    set_subject(msg, message("send.subject." + ("ok" if done else "failed"), language, **params))
    msg["From"] = settings.report.from_
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = f"<{run['id']}.report@renkei>"
    msg["Auto-Submitted"] = "auto-generated"

    def field(key: str, value: object) -> str:
        return f"{message(f'send.field.{key}', language)}: {value}"

    lines = [
        message("send.intro." + ("ok" if done else "failed"), language),
        "",
        field("name", clean(name)),
        field("layout", run["layout"]),
        field("executor", clean(executor_words(run["sender"], language))),
        field("file", clean(run["filename"])),
        field("started", local_time(run["received_at"], zone)),
        field("finished", local_time(run["finished_at"], zone)),
        field("counts", message("send.counts", language, **params)),
        field("run", run["id"]),
    ]
    if run["message"]:
        lines.append(field("message", run_message(run, language)))
    if requests:  # none for a send that failed before any went (a row too wide)
        lines += ["", message("send.requests", language)]
    for r in requests:
        status = r["status"] if r["status"] is not None else "-"
        lines.append(
            f"  {r['seq']}. {r['method']} {r['url']} {r['rows']} / {r['bytes']} B → {status}"
        )
        if r["answer"] and r["state"] != "done":
            lines.append(f"     {clean(r['answer'])[:300]}")
    lines += ["", "-- ", message("report.footer", language)]
    msg.set_content("\n".join(lines) + "\n", charset="utf-8")
    return msg
