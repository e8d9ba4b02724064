"""`renkei schedule NAME`: an account's FTP poll schedule and its next checks, as the
daemon would make them (daemon/poll/windows.py); reads the config only. Run by
daemon/cli."""

from __future__ import annotations

import argparse
import sys

from daemon.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, load_config, switched
from importers.messages import message


def cmd_schedule(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    if settings is None:
        return EXIT_FAILED
    language = settings.report.language
    account = settings.accounts.get(args.name)
    if account is None:
        print(message("cli.unknown_account", language, name=repr(args.name)), file=sys.stderr)
        return EXIT_USAGE
    if args.count < 1:
        print(message("cli.schedule.bad_count", language, value=args.count), file=sys.stderr)
        return EXIT_USAGE
    if account.ftp is None:
        print(message("cli.schedule.no_ftp", language, name=args.name))
        return EXIT_OK
    if not settings.ftp.enabled:
        print(message("cli.schedule.ftp_disabled", language, name=args.name))
        return EXIT_OK
    if not account.ftp.weekdays:
        print(message("cli.schedule.poll_only", language, name=args.name))
        return EXIT_OK
    if switched(settings).accounts[args.name].status == "stopped":
        # No check is made while it is stopped, as the API's next_checks says: the
        # times listed were never kept.
        print(message("cli.schedule.stopped", language, name=args.name))
        return EXIT_OK
    import datetime as dt

    from daemon.poll.windows import Schedule, next_checks
    from daemon.settings.model import WEEKDAYS

    ftp = account.ftp
    days = message("done.join", language).join(_weekday(d, language) for d in ftp.weekdays)
    head = {"weekdays": days, "window": ftp.window, "interval": ftp.interval}
    head |= {"delay": ftp.delay, "timezone": settings.daemon.timezone}
    print(message("cli.schedule.head", language, name=args.name, **head))
    schedule = Schedule.of(ftp, settings.daemon.timezone)
    for moment in next_checks(schedule, dt.datetime.now(dt.UTC), args.count):
        day = _weekday(WEEKDAYS[moment.weekday()], language)
        print(f"{moment:%Y-%m-%d} {day} {moment:%H:%M %z}")
    return EXIT_OK


def _weekday(day: str, language: str) -> str:
    """A weekday as the console says it: not strftime's %a, which is the C locale's."""
    return message(f"console.weekday.{day}", language)
