"""Replies to reports: whether a mail without a CSV is a person's answer to a mail renkei
sent. Reads the parsed headers; writes nothing. Called by handlers/smtp.py, after
handlers/automail.py, before any run is made.

A partner who answers an error report ("Re: [renkei] 取込エラー…", "thanks, will fix")
sends no CSV and no automatic-mail mark. Imported, it fails for want of a CSV and its
error report goes back to the person who answered: noise for them and a failed run in
the admin's history. renkei's own mails carry Message-IDs ending in `@renkei>`
(daemon/report/), which a reply names in `In-Reply-To` or `References` (RFC 5322
3.6.4). So such a mail is taken (250) and listed among the refusals, with no run. A
reply that carries a CSV (the corrected file, sent as an answer) is imported; one that
carries what may be the file in another form (a zip, Outlook's winmail.dat, an
attachment that is no picture, a CSV pasted in the body) makes its run as any mail does,
whose report says why it was not taken: the partner meant to send something.
"""

from __future__ import annotations

import re
from email.message import Message

from handlers.attachments import Carried, Other

_THREAD_HEADERS = ("In-Reply-To", "References")
_MESSAGE_ID = re.compile(r"<[^<>\s]*>")
# The domain of every Message-ID renkei writes (report/message.py, sendmail.py, digest.py,
# expected.py, alerts.py): no real host has it, so no partner's own mail carries it.
_OURS = "@renkei>"


def reply_to_report(message: Message, carried: Carried) -> str | None:
    """Why the mail is a reply to a report of renkei's, as a short English sentence for
    the admin's refusal list; None for a mail to import, or to answer with a report."""
    if carried.files or carried.body_csv or not all(map(_decoration, carried.others)):
        return None
    for header in _THREAD_HEADERS:
        ours = _our_id(message, header)
        if ours:
            return f"{header} names renkei's mail {ours}, and no CSV attachment"
    return None


def _decoration(other: Other) -> bool:
    """A picture a mailer adds to a reply (a signature's logo): not a file sent."""
    return other.kind == "other" and other.content_type.startswith("image/")


def _our_id(message: Message, header: str) -> str:
    """The first Message-ID of renkei's that the header names ('' none)."""
    for value in message.get_all(header, []):
        for found in _MESSAGE_ID.findall(str(value)):
            if found.lower().endswith(_OURS):
                return found
    return ""
