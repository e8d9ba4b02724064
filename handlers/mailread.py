"""What a mail carries, read from its bytes alone: its header senders, its files and
other attachments, its Message-ID, or why it makes no run (an automatic mail, a reply
to a report, more parts than are read).

A function of the mail's bytes and envelope sender only, so that the mail door can
have it run in another process (mailreaders.py). The accounts' checks, which need the
config, stay in handlers/smtp.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses

from handlers import automail, mime, replies
from handlers.attachments import UNFOLD, Carried, carried_by
from handlers.base import bounded_key, readable


@dataclass(frozen=True, slots=True)
class Read:
    senders: list[str]  # the header From addresses, in lower case
    carried: Carried
    message_id: str  # as an idempotency key is kept (bounded_key); '' when none


class Automatic(Exception):
    """A bounce or auto-reply (`automatic_mail`), or a reply to a report
    (`reply_to_report`): taken, and no run made; `detail` says how it was told."""

    def __init__(self, detail: str, reason: str = "automatic_mail") -> None:
        super().__init__(detail)
        self.detail, self.reason = detail, reason

    def __reduce__(self) -> tuple:
        # Raised in a reader process: both fields must cross back to the door.
        return type(self), (self.detail, self.reason)


class TooManyParts(Exception):
    """More parts than the door reads (mime.MAX_PART_LINES)."""


def read(raw: bytes, mail_from: str) -> Read:
    """Read the mail `raw` came as, sent with the envelope sender `mail_from`.

    Raises Automatic or TooManyParts for a mail that makes no run, and RecursionError
    for multiparts nested past what the library's parser can walk."""
    if mime.too_many_parts(raw):
        raise TooManyParts
    message, parts = mime.leaf_parts(raw) or mime.library_parts(raw)
    carried = carried_by(message, parts)
    # Before the sender checks: a bounce's From is a mailer daemon's, and a 550
    # to it would only be bounced again.
    why = automail.automatic(message, mail_from, bool(carried.files))
    if why is not None:
        raise Automatic(why)
    # Before them too: the colleague copied on a report who answers it is told nothing.
    replied = replies.reply_to_report(message, carried)
    if replied is not None:
        raise Automatic(f"{replied}; subject: {carried.subject or '-'}", "reply_to_report")
    # The same Message-ID is the same message sent again, never a new one.
    ids = _header_values(message, "Message-ID")
    return Read(_header_senders(message), carried, bounded_key(ids[0].strip() if ids else ""))


def _header_senders(message: Message) -> list[str]:
    """Every address the header From names, read from the header as written: the mail
    library's reading of `export@acme.example <evil@attacker.example>` kept only the
    first, an allowed sender, where mail clients show the second. A name written in
    raw 8-bit bytes is read as text first (UTF-8, else CP932): many Shift_JIS
    characters end in the byte of `@` (法, 機, a full-width space), and the name read
    as bytes was taken for a second address, not allowed."""
    values = [
        readable(UNFOLD.sub("", str(v))) for k, v in message.raw_items() if k.lower() == "from"
    ]
    return [addr.lower() for _, addr in getaddresses(values) if addr]


def _header_values(message: Message, name: str) -> list[str]:
    """The header's values as the mail library reads them; as written (unfolded) when
    its parser fails on them. Python's email package raises IndexError or
    AttributeError on some malformed address lists and message IDs (`a <b@c>, g: ;x`),
    which failed the session with a 451 the sender would retry for days."""
    try:
        return [str(value) for value in message.get_all(name, [])]
    except (IndexError, AttributeError, ValueError):
        key = name.lower()
        return [UNFOLD.sub("", str(v)) for k, v in message.raw_items() if k.lower() == key]
