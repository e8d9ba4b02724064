"""How a command's own mail fared at the one try it makes (Reporter.send_now), in the
catalog's words: `renkei import` says it of its run's report, `renkei digest` and
`renkei expect-check` of what they queued. A mail the relay did not take waits in the
outbox, and a running `renkei serve` sends it; the command says so instead of leaving
the outbox's log line (English, for the daemon's log) on the terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from daemon.report.outbox import Attempt, relay_trouble_words
from daemon.settings import Settings
from importers.messages import message


def line(attempt: Attempt | None, what: str, settings: Settings) -> tuple[str, bool] | None:
    """What to say of one mail (`what`: a catalog key under cli.mail) and whether it
    tells of trouble; None when it was not tried here."""
    if attempt is None:
        return None
    language = settings.report.language
    words = message(f"cli.mail.{what}", language)
    if attempt.outcome == "sent":
        recipients = ", ".join(attempt.recipients)
        return message("cli.mail.sent", language, what=words, recipients=recipients), False
    if attempt.outcome == "sent_partly":
        recipients = ", ".join(attempt.recipients)
        text = message(
            "cli.mail.sent_partly",
            language,
            what=words,
            recipients=recipients,
            answer=attempt.answer,
        )
        return text, True
    if attempt.outcome == "failed":
        folder = settings.data_dir / "outbox" / "failed"
        text = message(
            "cli.mail.refused", language, what=words, answer=attempt.answer, folder=folder
        )
        return text, True
    relay = settings.report.relay
    # The relay not reached: the system's reason in the catalog's words (接続を拒否されました,
    # 時間切れ), where aiosmtplib's text is English; its own answer (a 421) as it said it.
    said = relay_trouble_words(attempt.cause) if attempt.cause else None
    answer = said.say(language) if said is not None else attempt.answer
    return message("cli.mail.waiting", language, what=words, relay=relay, answer=answer), True


def say(lines: Iterable[tuple[str, bool] | None]) -> None:
    """Print each line once: what went on stdout, trouble on stderr."""
    seen = set()
    for said in lines:
        if said is None or said in seen:
            continue
        seen.add(said)
        text, trouble = said
        print(text, file=sys.stderr if trouble else sys.stdout)
