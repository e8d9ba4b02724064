"""`renkei sweep`, `renkei expect-check` and `renkei digest`: one of the daemon's
scheduled upkeep steps (retention, expected-file alerts, the digest mail) run once, now
or at `--now`, in this process. Run by daemon/cli."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

from daemon.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, load_config, switched
from daemon.settings import Settings
from importers.messages import message

if TYPE_CHECKING:
    import datetime as dt


def _now_option(option: str | None, settings: Settings) -> dt.datetime | None:
    """`--now WHEN` of the commands that run a daemon step at a given moment (now when
    not given); None, having said why, when WHEN is not a moment."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from daemon.runview import YEARS, parse_moment

    if option is None:
        # In daemon.timezone, as the moment is said back to the admin.
        return dt.datetime.now(ZoneInfo(settings.daemon.timezone))
    now = parse_moment(option, settings.daemon.timezone)
    if now is None:
        language = settings.report.language
        bad = message("cli.sweep.bad_now", language, value=repr(option), years=YEARS)
        print(bad, file=sys.stderr)
    return now


def cmd_sweep(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    if settings is None:
        return EXIT_FAILED
    from zoneinfo import ZoneInfo

    from daemon.oneshot import sweep_now

    language = settings.report.language
    now = _now_option(args.now, settings)
    if now is None:
        return EXIT_USAGE
    swept = asyncio.run(sweep_now(settings, now))
    counts = {"runs": swept.runs, "files": swept.files, "mails": swept.mails}
    zone = ZoneInfo(settings.daemon.timezone)
    before = swept.before.astimezone(zone).isoformat(timespec="seconds")
    days = settings.daemon.retention_days
    print(message("cli.sweep.done", language, before=before, days=days, **counts))
    return EXIT_OK


def cmd_expect_check(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    if settings is None:
        return EXIT_FAILED
    from daemon.cli import mailtry
    from daemon.poll.expected import check_now

    language = settings.report.language
    now = _now_option(args.now, settings)
    if now is None:
        return EXIT_USAGE
    # A stopped account is never alerted, whether its config or the console stopped it.
    checked = asyncio.run(check_now(switched(settings), now))
    counts = {"missing": len(checked.missing), "arrived": len(checked.arrived)}
    print(message("cli.expect.done", language, now=now.isoformat(timespec="seconds"), **counts))
    mailtry.say(mailtry.line(attempt, "alert", settings) for attempt in checked.attempts)
    return EXIT_OK


def cmd_digest(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    if settings is None:
        return EXIT_FAILED
    from daemon.cli import mailtry
    from daemon.poll.digest import digest_now, wants_digest

    language = settings.report.language
    if args.account is not None and args.account not in settings.accounts:
        print(message("cli.unknown_account", language, name=repr(args.account)), file=sys.stderr)
        return EXIT_USAGE
    if args.account is not None and not wants_digest(settings.accounts[args.account]):
        # "0 digests queued" alone said nothing of why: the account takes none.
        report = settings.accounts[args.account].report
        said = message("cli.digest.none_wanted", language, name=args.account, report=report)
        print(said, file=sys.stderr)
        return EXIT_USAGE
    now = _now_option(args.now, settings)
    if now is None:
        return EXIT_USAGE
    queued = asyncio.run(digest_now(settings, now, args.account))
    print(
        message(
            "cli.digest.done", language, now=now.isoformat(timespec="seconds"), sent=len(queued)
        )
    )
    mailtry.say(mailtry.line(attempt, "digest", settings) for _, attempt in queued)
    return EXIT_OK
