"""`renkei runs` and `renkei show`: the run history read from the store, as a table, as
one run's lines or as JSON, and `show --save` copying a run's files out; writes nothing
to the store. Run by daemon/cli."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, load_config, run_named
from daemon.cli.parser import MAX_RUNS
from daemon.settings.problems import OsTrouble
from importers.messages import message

if TYPE_CHECKING:
    from daemon.oneshot import Found


def cmd_runs(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    if settings is None:
        return EXIT_FAILED
    from daemon.oneshot import latest_runs
    from daemon.runview import runs_table

    since = _since(args.since, settings.daemon.timezone)
    problem = _runs_problem(args, since, settings.report.language)
    if problem is not None:
        print(problem, file=sys.stderr)
        return EXIT_USAGE
    filters = {"account": args.account, "state": args.state, "channel": args.channel}
    runs = asyncio.run(latest_runs(settings, filters, args.limit, since))
    if args.json:  # as the API shows runs: the message as stored, not its words
        shown = [{k: v for k, v in run.items() if k != "said"} for run in runs]
        print(json.dumps(shown, ensure_ascii=False, indent=2))
        return EXIT_OK
    language, timezone = settings.report.language, settings.daemon.timezone
    print("\n".join(runs_table(runs, language, timezone, _width())))
    return EXIT_OK


def _since(text: str | None, timezone: str) -> str | None:
    """`--since` as UTC ISO 8601; None when not given or not understood."""
    import datetime as dt

    from daemon.runview import parse_since

    return None if text is None else parse_since(text, timezone, dt.datetime.now(dt.UTC))


def _runs_problem(args: argparse.Namespace, since: str | None, language: str) -> str | None:
    """Why `renkei runs`' filters cannot be right, or None."""
    from daemon.runview import YEARS
    from daemon.store.runs import CHANNELS, RunState

    if not 1 <= args.limit <= MAX_RUNS:
        return message("cli.runs.bad_limit", language, value=args.limit, most=f"{MAX_RUNS:,}")
    if args.state is not None and args.state not in set(RunState):
        states = ", ".join(RunState)
        return message("cli.runs.bad_state", language, value=repr(args.state), states=states)
    if args.channel is not None and args.channel not in CHANNELS:
        channels = ", ".join(CHANNELS)
        return message(
            "cli.runs.bad_channel", language, value=repr(args.channel), channels=channels
        )
    if args.since is not None and since is None:
        return message("cli.runs.bad_since", language, value=repr(args.since), years=YEARS)
    return None


def _width() -> int | None:
    """The width to fit: COLUMNS when set, else the terminal's; none for a pipe or file,
    where a script or a pager reads whole lines."""
    import shutil

    with contextlib.suppress(ValueError):
        if int(os.environ.get("COLUMNS", "")) > 0:
            return int(os.environ["COLUMNS"])
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def cmd_show(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    if settings is None:
        return EXIT_FAILED
    from daemon.runview import show_json, show_lines

    language = settings.report.language
    save = Path(args.save) if args.save else None
    refusal = None if save is None else _save_refusal(save, language)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return EXIT_USAGE
    found = run_named(settings, args.run)
    if isinstance(found, int):
        return found
    if args.json:
        print(json.dumps(show_json(found), ensure_ascii=False, indent=2))
    else:
        print("\n".join(show_lines(found, language, settings.daemon.timezone)))
    return EXIT_OK if save is None else _save(found, save, language)


def _save_refusal(folder: Path, language: str) -> str | None:
    """Why `--save folder` cannot be, said before the run is looked up; None when it can.
    The copies go into a folder under their own names, so a file already there
    (`--save /etc/passwd`) is refused, never written over; and only the last folder is
    made, as mkdir makes it: a mistyped parent (`/srv/exprot/today`) is said, not made."""
    if os.path.lexists(folder) and not folder.is_dir():
        return message("cli.show.save_not_folder", language, path=folder)
    if not os.path.lexists(folder) and not folder.parent.is_dir():
        return message("cli.show.save_no_parent", language, path=folder, parent=folder.parent)
    return None


def _save(found: Found, folder: Path, language: str) -> int:
    """`renkei show --save DIR`, said on stderr: stdout may be the run as JSON."""
    from daemon.oneshot import save_files
    from daemon.runview import not_kept_key

    try:
        saved = save_files(found, folder)
    except OSError as exc:  # a folder we may not write, a full disk
        detail = OsTrouble(exc).render(language)
        failed = message("cli.show.save_failed", language, path=folder, detail=detail)
        print(failed, file=sys.stderr)
        return EXIT_FAILED
    for path in saved:
        print(message("cli.show.saved", language, path=path), file=sys.stderr)
    if found.kept_file is None:
        key = not_kept_key(found.run, found.elsewhere)
        print(message(key, language, instance=found.elsewhere), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
