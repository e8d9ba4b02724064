"""`renkei import FILE`: one file through the daemon's own pipeline (daemon/oneshot.py)
in this process, and the run said as `renkei show` says it. Run by daemon/cli."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.cli import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    load_config,
    print_problems,
    switched,
)
from daemon.cli.parser import config_path
from daemon.settings import ConfigError, Settings
from importers.messages import message

if TYPE_CHECKING:
    from daemon.report.outbox import Attempt


def cmd_import(args: argparse.Namespace) -> int:
    _start_readers(Path(args.file))
    settings = load_config(args.config)
    if settings is None:
        return EXIT_FAILED
    if args.account not in settings.accounts:
        refusal = message("cli.unknown_account", settings.report.language, name=repr(args.account))
        print(f"--account: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    path = Path(args.file)
    refusal = _not_importable(path, settings.report.language)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return EXIT_USAGE
    if _stopped(settings, args.account):
        # As the console's upload and a retry are: a stopped account imports nothing.
        stopped = message("api.account_stopped", settings.report.language, name=args.account)
        print(stopped, file=sys.stderr)
        return EXIT_FAILED
    from daemon.oneshot import Cancelled, find_run, import_file
    from daemon.store.runs import RunState

    progress = sys.stderr.isatty()
    language = settings.report.language
    try:
        run, attempt = asyncio.run(
            import_file(settings, path, args.account, progress, args.dry_run)
        )
    except ConfigError as exc:  # a layout its table cannot take
        print_problems("cli.config.invalid", exc.problems, language, config_path(args.config))
        return EXIT_FAILED
    except OSError as exc:
        # The spool could not take the file (a full disk, a folder it may not write):
        # said, nothing of it imported, where it was a traceback.
        from daemon.settings.problems import OsTrouble

        detail = OsTrouble(exc).render(language)
        print(message("cli.import.system_trouble", language, detail=detail), file=sys.stderr)
        return EXIT_FAILED
    except Cancelled as cancelled:
        print(message("cli.import.cancelled", language, id=cancelled.run_id), file=sys.stderr)
        # 130 for Ctrl-C, as a shell reports a command a signal ended: 128 + its number.
        return 128 + cancelled.signum
    if args.json:
        from daemon.runview import show_json

        # As `renkei show --json` says it: the row errors and the error CSV with it.
        found = asyncio.run(find_run(settings, run["id"]))
        print(json.dumps(show_json(found), ensure_ascii=False, indent=2))
    elif run["state"] == RunState.COMPLETED and not run["rows_failed"]:
        print(_summary(run, language))  # no row error to list: the store is not read again
    else:
        from daemon.runview import problem_lines

        found = asyncio.run(find_run(settings, run["id"]))
        print("\n".join([_summary(run, language), *problem_lines(found, language)]))
    if not args.json:
        _report_said(settings, run, attempt)
    if run["state"] == RunState.COMPLETED and not run["dry_run"]:
        _not_forwarded(settings, args.account)
    return EXIT_OK if run["state"] == RunState.COMPLETED else EXIT_FAILED


def _not_importable(path: Path, language: str) -> str | None:
    """Why `path` cannot be imported, said before a run is made of it; None if it can.
    Opened here once, so that a file we may not read is said as such, not as a
    traceback from the spool; a FIFO is never opened, which would wait for a writer."""
    if path.is_dir():
        return message("cli.is_folder", language, path=path)
    if not path.exists():
        return message("cli.no_such_file", language, path=path)
    if not path.is_file():
        return message("cli.not_regular_file", language, path=path)
    try:
        with path.open("rb"):
            return None
    except OSError as exc:
        from daemon.settings.problems import OsTrouble

        detail = OsTrouble(exc).render(language)
        return message("cli.unreadable_file", language, path=path, detail=detail)


def _start_readers(path: Path) -> None:
    """A file read in parts has its reader processes started first, so that they load
    their modules while this one loads its own, the config and the store (about a
    tenth of a second of a large import); a file that turns out not to be imported
    leaves them to end with this process."""
    from daemon.worker import staging
    from importers.workbook import is_workbook

    try:
        size = path.stat().st_size
    except OSError:
        return  # said below, once the config gives the words
    if size > staging.LARGE_FILE and not is_workbook(path.name):
        staging.warm()


def _report_said(settings: Settings, run: dict, attempt: Attempt | None) -> None:
    """How the run's report mail fared; one that waits untried is said to wait."""
    from daemon.cli import mailtry
    from daemon.store.runs import ReportState

    said = mailtry.line(attempt, "report", settings)
    if said is None and run["report_state"] in (ReportState.PENDING, ReportState.QUEUED):
        words = message("cli.mail.report", settings.report.language)
        said = message("cli.mail.queued", settings.report.language, what=words), False
    mailtry.say([said])


def _stopped(settings: Settings, account: str) -> bool:
    """Whether `account` is stopped, by the config or by a console switch."""
    return switched(settings).accounts[account].status == "stopped"


def _not_forwarded(settings: Settings, account: str) -> None:
    """Sends and calls that follow the account's imports run in the daemon only: say
    so, rather than let a one-shot import look forwarded when it was not."""
    names = [f"sends.{name}" for name, s in settings.sends.items() if account in s.after_import]
    names += [f"calls.{name}" for name, c in settings.calls.items() if account in c.after_import]
    if names:
        text = message("cli.import.not_forwarded", settings.report.language, names=", ".join(names))
        print(text, file=sys.stderr)


def _summary(run: dict, language: str) -> str:
    from daemon.report.message import mode_words, summary
    from daemon.runview import state_words

    dry = message("cli.dry_run", language) if run["dry_run"] else ""
    # In the words `renkei show` says them, not the store's values.
    mode = mode_words(run, language)
    head = {"id": run["id"], "state": state_words(run, language), "mode": mode, "dry": dry}
    rows = {"total": run["rows_total"], "imported": run["rows_imported"]}
    counts = message("report.counts", language, failed=run["rows_failed"], **rows)
    lines = [
        message("cli.import.summary", language, **head, counts=counts),
        summary(run, language),
    ]
    return "\n".join([*lines, run["message"]] if run["message"] else lines)
