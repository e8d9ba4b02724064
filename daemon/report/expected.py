"""Expected-file mail: the 未着のお知らせ alert for a day whose file had not completed by
its time, and the 届きました note when it came after all, in `report.language`.

Built by daemon.poll.expected and queued in the outbox like any report.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate

from daemon.report.message import flat
from daemon.report.subject import set_subject
from importers.messages import message


def build(
    item_id: str,
    kind: str,
    params: dict[str, object],
    recipients: Sequence[str],
    sender: str,
    language: str,
) -> EmailMessage:
    """`kind` is `missing` or `arrived`; `params` fill its catalog sentences."""
    # On one line, `=?` kept: set_subject encodes it, and a body is never decoded.
    params = {k: flat(str(v)) for k, v in params.items()}
    msg = EmailMessage()
    set_subject(msg, message(f"expect.{kind}.subject", language, **params))
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = f"<{item_id}@renkei>"
    msg["Auto-Submitted"] = "auto-generated"
    body = message(f"expect.{kind}.body", language, **params)
    if kind == "missing" and "waiting" in params:
        body += "\n" + message("expect.missing.waiting", language, **params)
    footer = message("report.footer", language)
    msg.set_content(f"{body}\n\n-- \n{footer}\n", charset="utf-8")
    return msg
