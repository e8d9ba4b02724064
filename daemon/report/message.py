"""Report mail: builds the message for one run, in `report.language`.

Subject and body come from the message catalog; headers are RFC 2047 encoded so no
relay needs SMTPUTF8, and text from outside (a file name, a sender) is stripped of
control characters so it can never start a header of its own. Called by the reporter.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import zoneinfo
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

from daemon.report.subject import set_subject
from daemon.store.runs import RunState
from importers.errors import ERRORS_KEPT, RowError
from importers.filenames import CORRECTION_SUFFIX, correction_name
from importers.messages import CATALOG, message, said, words_of

BODY_ERRORS = 20
# The largest error CSV a mail attaches. Base64 makes it a third larger, and Postfix
# refuses mail over 10,240,000 bytes by default (message_size_limit): a report the
# relay refuses reaches no one, where a download link still helps.
MAX_ATTACHED_BYTES = 6 * 1024 * 1024
# What a run did, in the order the sentence says it; a zero is left out.
DONE = ("inserted", "updated", "deleted", "skipped", "not_found", "failed", "empty")
# What a row that did not fail may have done; none of them, and nothing imported.
_NOT_FAILED = ("imported", "inserted", "updated", "deleted", "skipped", "not_found")


def run_message(run: Any, language: str) -> str:
    """The run's message in `language`, from the words it was stored with: one stored
    while `report.language` was another (a digest, `renkei show` after the switch)
    was said in that one. As stored when it has no words."""
    return said(words_of(run.get("said")), run["message"] or "", language)


def clean(text: str) -> str:
    """Outside text made safe for a header: no control characters, no line breaks (nor
    U+2028 and U+2029, which end a line for the email package too), and no RFC 2047
    encoded word. The email package decodes one as it stores a header, a parameter's
    quoted value included, so a file named `=?UTF-8?B?…?=` would come back as the line
    breaks it encodes and write headers (or a body) of the sender's own: its `=?` is
    parted by a no-break space."""
    return flat(text).replace("=?", _PARTED)


def flat(text: str) -> str:
    """Outside text on one line, for a Subject (subject.set_subject): its `=?` kept, as
    set_subject encodes any word holding one, and the Subject decodes to the text."""
    return "".join(" " if _breaks(ch) else ch for ch in str(text)).strip()


_PARTED = "=\u00a0?"


def _breaks(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category[0] == "C" or category in ("Zl", "Zp")


def kind(run: dict[str, Any]) -> str:
    """completed, partial, none_imported or failed. A run that completed with every row
    in error (on_row_error = "skip") imported nothing: "partly imported" would say it
    imported some."""
    if run["state"] != RunState.COMPLETED:
        return "failed"
    if not run["rows_failed"]:
        return "completed"
    if any(run[f"rows_{done}"] for done in _NOT_FAILED):
        return "partial"
    return "none_imported"


def errors_head(shown: int, count: int, language: str) -> str:
    """The errors' heading, "Errors (first 20 of N):", N the run's errors the store
    keeps (several may be of one row: not its rows_failed). It keeps the first
    ERRORS_KEPT: from there N is only the least there are, and said so."""
    key = "report.errors.head_cut" if count >= ERRORS_KEPT else "report.errors.head"
    return message(key, language, shown=shown, total=count)


def in_words(key: str, language: str, value: str) -> str:
    """A channel or mode (`key`) as the user's language says it; `value` if unknown."""
    return message(key, language) if key in CATALOG else value


def mode_key(run: Any) -> str:
    """The catalog key of how a run wrote its rows. A corrected error CSV sent back
    under replace_file adds its rows to its file's: said as a replace, partners took
    a second copy to put the first one's rows back, not beside them."""
    name = correction_name(run.get("filename") or "").lower()
    if run.get("mode") == "replace_file" and name.endswith(CORRECTION_SUFFIX):
        return "mode.correction"
    return f"mode.{run['mode']}"


def mode_words(run: Any, language: str) -> str:
    return in_words(mode_key(run), language, run["mode"])


def channel_words(channel: str, language: str) -> str:
    """How a run came (mail, ftp, api, dropdir, cli, send) in words."""
    return in_words(f"channel.{channel}", language, channel)


def executor_words(sender: str, language: str) -> str:
    """Who started a send (its run's `sender`: admin, forward, schedule) in words."""
    return in_words(f"send.executor.{sender}", language, sender)


def summary(run: dict[str, Any], language: str) -> str:
    """What the run did in one sentence: "3 件を新規登録、2 件を更新、1 件はキーが
    見つからず処理しませんでした。" A dry run says it wrote nothing."""
    if run["state"] != RunState.COMPLETED:
        return message("done.none_written", language)
    parts = [
        message(f"done.{kind}", language, n=run[f"rows_{kind}"])
        for kind in DONE
        if run[f"rows_{kind}"]
    ]
    if run["rows_imported"] and not any(run[f"rows_{kind}"] for kind in DONE[:5]):
        # A run recorded before renkei counted what each row did: its rows imported
        # are all it knows (else "no rows to import" beside "2 imported").
        parts.insert(0, message("done.imported", language, n=run["rows_imported"]))
    if parts:
        sentence = message(
            "done.sentence", language, parts=message("done.join", language).join(parts)
        )
    else:
        sentence = message("done.nothing", language)
    return message("done.dry_run", language, sentence=sentence) if run["dry_run"] else sentence


def build(
    run: dict[str, Any],
    errors: Sequence[RowError],
    recipients: Sequence[str],
    sender: str,
    language: str,
    timezone: str,
    attachment: Path | None,
    error_count: int | None = None,
) -> EmailMessage:
    """The run's report; `errors` its first (BODY_ERRORS are listed), `error_count`
    how many the store keeps (len(errors) when None)."""
    k = kind(run)
    params = {
        "account": flat(run["account"]),
        "filename": flat(run["filename"]) or "-",
        "imported": run["rows_imported"],
        "failed": run["rows_failed"],
    }
    msg = EmailMessage()
    set_subject(msg, message(f"report.subject.{k}", language, **params))
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = f"<{run['id']}.report@renkei>"
    msg["Auto-Submitted"] = "auto-generated"
    if k == "completed" or (attachment is not None and not attachment.exists()):
        attachment = None  # its error CSV is the header alone: nothing to read or fix
    too_large = attachment is not None and attachment.stat().st_size > MAX_ATTACHED_BYTES
    count = len(errors) if error_count is None else error_count
    body = _body(run, errors, count, language, timezone, k, attachment, too_large)
    msg.set_content(body, charset="utf-8")
    if attachment is not None and not too_large:
        data = attachment.read_bytes()
        msg.add_attachment(
            data,
            maintype="text",
            subtype="csv",
            filename=clean(attachment.name),
            params={"charset": _charset(data)},
        )
    return msg


def _charset(data: bytes) -> str:
    """The error CSV's charset as a mail says it. It is written in the file's own
    encoding, UTF-8 or CP932 (a workbook's in UTF-8): text that reads as UTF-8 is
    (CP932 Japanese never does); Japanese mailers name CP932 Shift_JIS."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "Shift_JIS"
    return "utf-8"


def _body(
    run: dict[str, Any],
    errors: Sequence[RowError],
    error_count: int,
    language: str,
    timezone: str,
    k: str,
    attachment: Path | None,
    too_large: bool = False,
) -> str:
    def field(name: str, value: object) -> str:
        return f"{message(f'report.field.{name}', language)}: {value}"

    zone = zoneinfo.ZoneInfo(timezone)
    counts = message(
        "report.counts",
        language,
        total=run["rows_total"],
        imported=run["rows_imported"],
        failed=run["rows_failed"],
    )
    lines = [
        message(f"report.intro.{k}", language),
        "",
        field("account", clean(run["account"])),
        field("channel", channel_words(run["channel"], language)),
        field("sender", clean(run["sender"])),
        field("filename", clean(run["filename"]) or "-"),
        # A run never started (a mail with no file, an account stopped) read nothing:
        # no mode, encoding or start to tell of.
        *(
            [
                field("mode", mode_words(run, language)),
                field("encoding", run["encoding"] or "-"),
            ]
            if run["started_at"]
            else []
        ),
        field("received", local_time(run["received_at"], zone)),
        *([field("started", local_time(run["started_at"], zone))] if run["started_at"] else []),
        field("finished", local_time(run["finished_at"], zone)),
        field("counts", counts),
        field("result", summary(run, language)),
        field("run", run["id"]),
    ]
    if run["message"]:
        lines.append(field("message", run_message(run, language)))
    if errors:
        shown = errors[:BODY_ERRORS]
        lines += ["", errors_head(len(shown), max(error_count, len(errors)), language)]
        lines += [f"  {said(e.said, e.message, language)}" for e in shown]
    if attachment is not None and too_large:
        url = f"GET /api/v1/runs/{run['id']}/errors.csv"
        size = f"{attachment.stat().st_size / 1e6:.1f} MB"
        params = {"name": attachment.name, "size": size, "url": url, "run": run["id"]}
        download = message("report.errors.download", language, **params)
        lines += ["", download]
    elif attachment is not None:
        lines += ["", message("report.errors.attached", language, name=attachment.name)]
    lines += ["", "-- ", message("report.footer", language)]
    return "\n".join(lines) + "\n"


def local_time(stamp: str | None, zone: zoneinfo.ZoneInfo) -> str:
    if not stamp:
        return "-"
    return dt.datetime.fromisoformat(stamp).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
