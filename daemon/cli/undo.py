"""`renkei undo RUN`: takes a run's rows back out of its table and restores what they
replaced, in the store itself, not through the daemon; the undo is a run of its own.
Run by daemon/cli."""

from __future__ import annotations

import argparse
import asyncio
import sys

from daemon.cli import EXIT_FAILED, EXIT_OK, load_config, run_named
from importers.messages import message


def cmd_undo(args: argparse.Namespace) -> int:
    """In the store itself, not through the daemon: an undo is one transaction that the
    store serializes with the daemon's imports, so it needs no admin token and works
    whether or not the daemon runs."""
    settings = load_config(args.config)
    if settings is None:
        return EXIT_FAILED
    import getpass

    from daemon.oneshot import undo_run
    from daemon.runview import state_words

    language = settings.report.language
    found = run_named(settings, args.run)
    if isinstance(found, int):
        return found
    run = found.run
    if run["state"] == "queued":
        # Still waiting in the spool (SQLite records it once the importer takes it): the
        # store knows nothing of it, and said its rows were not kept.
        params = {"run_id": run["id"], "state": state_words(run, language), "other": ""}
        print(message("api.run_not_completed", language, **params), file=sys.stderr)
        return EXIT_FAILED
    undone = asyncio.run(undo_run(settings, run["id"], getpass.getuser()))
    if undone.refusal is not None:
        state = state_words(run, language)
        params = {"run_id": run["id"], "state": state, "other": undone.other}
        print(message(f"api.{undone.refusal}", language, **params), file=sys.stderr)
        return EXIT_FAILED
    counts = {"deleted": undone.deleted, "restored": undone.restored}
    print(message("cli.undo.done", language, run=run["id"], id=undone.run_id, **counts))
    return EXIT_OK
