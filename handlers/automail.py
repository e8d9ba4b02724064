"""Automatic mail: whether a message a machine sent in answer to another (a bounce, a
read receipt, an out-of-office reply) is one. Reads the parsed headers and the envelope
sender; writes nothing. Called by handlers/smtp.py before any run is made.

Every report renkei sends could come back as such a mail. Imported, it fails for want of
a CSV (or, a bounce, imports the report's own error CSV it returns), and its error
report goes to the mailbox that bounced: a loop. So it is taken (250, lest the bouncer
bounce again) and makes no run, hence no report (RFC 3834 section 2: no automatic
answer to an automatic mail).
"""

from __future__ import annotations

from email.message import Message

# RFC 3834 2: any value but "no" marks a mail a machine sent on its own.
_AUTO_SUBMITTED = "Auto-Submitted"
# Old autoresponders' own marks, present whatever their value says.
_AUTOREPLY_HEADERS = ("X-Autoreply", "X-Autorespond")
# Precedence auto_reply is an auto-reply whatever it carries; bulk, junk and list say
# only that the mail went to many, which a partner's export sent through a mailing list
# does too: such a mail with a CSV is still imported.
_PRECEDENCE_ALWAYS = {"auto_reply"}
_PRECEDENCE_WITHOUT_CSV = {"bulk", "junk", "list"}


def automatic(message: Message, mail_from: str, has_csv: bool) -> str | None:
    """Why the mail is automatic, as a short English sentence for the admin's refusal
    list; None for a mail to import."""
    return (
        _always(message)
        or _returns_ours(message, mail_from)
        or (None if has_csv else _without_csv(message, mail_from))
    )


def _always(message: Message) -> str | None:
    """Marks that make a mail automatic even when it holds a CSV."""
    submitted = _token(message, _AUTO_SUBMITTED)
    # auto-generated is not an answer (RFC 3834 5.1): a partner's scheduled export
    # says it too, and its CSV was taken with a 250 and dropped. Only renkei's own
    # report, come back whole (a mailbox rule redirecting it), is one with a CSV.
    if submitted == "auto-generated" and not _ours(message):
        return None
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted} (RFC 3834)"
    # A delivery or read report (RFC 6522) returns our own report, attachments and all.
    if message.get_content_type() == "multipart/report":
        kind = message.get_param("report-type") or "?"
        return f"multipart/report; report-type={kind} (RFC 6522)"
    for header in _AUTOREPLY_HEADERS:
        value = _token(message, header)
        if header in message and value != "no":
            return f"{header}: {value}"
    precedence = _token(message, "Precedence")
    if precedence in _PRECEDENCE_ALWAYS:
        return f"Precedence: {precedence}"
    return None


def _without_csv(message: Message, mail_from: str) -> str | None:
    """Marks that make a mail automatic when it holds no CSV."""
    if _token(message, _AUTO_SUBMITTED) == "auto-generated":
        return "Auto-Submitted: auto-generated (RFC 3834) and no CSV attachment"
    if not mail_from.strip("<> "):
        return "null sender (MAIL FROM:<>) and no CSV attachment"
    precedence = _token(message, "Precedence")
    if precedence in _PRECEDENCE_WITHOUT_CSV:
        return f"Precedence: {precedence} and no CSV attachment"
    return None


def _returns_ours(message: Message, mail_from: str) -> str | None:
    """A mail from the null sender that returns one of renkei's own whole: a bounce
    written as no delivery report (qmail's, a quarantine's), with the report's error
    CSV inside it, which was imported and answered with a report that bounced again."""
    if mail_from.strip("<> "):
        return None
    for part in message.walk():
        inner = part.get_payload() if part.get_content_maintype() == "message" else None
        if isinstance(inner, list) and inner and _ours(inner[0]):
            return "null sender (MAIL FROM:<>) returning renkei's own mail"
    return None


def _ours(message: Message) -> bool:
    """Whether the mail is one renkei sent (its Message-IDs end in `@renkei>`)."""
    return str(message.get("Message-ID", "") or "").strip().endswith("@renkei>")


def _token(message: Message, header: str) -> str:
    """The header's first word, lower case, its parameters dropped ('' when absent)."""
    value = str(message.get(header, "") or "")
    return value.split(";", 1)[0].strip().lower()
