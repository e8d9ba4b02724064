"""`renkei serve`: holds the data_dir's lock and runs the daemon (daemon/master.py) in
this process until it is stopped. Run by daemon/cli."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from daemon.cli import EXIT_FAILED, load_config, print_problems
from daemon.cli.parser import config_path
from daemon.settings import ConfigError
from importers.messages import message


def cmd_serve(args: argparse.Namespace) -> int:
    from daemon import earlyhup
    from daemon.serving import AlreadyServing, hold

    earlyhup.hold()  # already held by daemon/entry.py, unless run as `-m daemon.cli`
    settings = load_config(args.config)
    if settings is None:
        return EXIT_FAILED
    from daemon import heap, logs
    from daemon.master import Master

    logs.configure()
    heap.keep_freed_memory()
    from daemon.worker.supervisor import ImportProcessDied

    path = config_path(args.config)
    try:
        lock = hold(settings.data_dir)
    except AlreadyServing as held:
        language = settings.report.language
        text = message("cli.serve.already", language, path=settings.data_dir, pid=held.pid)
        print(text, file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        _cannot_start(exc, settings.report.language)
        return EXIT_FAILED
    try:
        # Not resolved: a config that is a link (a ConfigMap's, or one switched with
        # `ln -sfn`) is read again through the link at a reload, and its swap seen.
        return asyncio.run(Master(settings, path.absolute()).run())
    except ConfigError as exc:  # a layout its table cannot take (the store is read now)
        print_problems("cli.config.invalid", exc.problems, settings.report.language, path)
        return EXIT_FAILED
    except (OSError, ImportProcessDied) as exc:
        # A port in use, a data_dir we may not write: say which, without a traceback.
        _cannot_start(exc, settings.report.language)
        return EXIT_FAILED
    finally:
        os.close(lock)


def _cannot_start(exc: Exception, language: str) -> None:
    """The log line for the journal, and the same said in the catalog's words for
    whoever started renkei at a terminal."""
    from daemon.settings.listeners import ListenError
    from daemon.settings.problems import OsTrouble

    logging.getLogger("renkei").error("cannot start: %s", exc)
    detail = OsTrouble(exc).render(language) if isinstance(exc, OSError) else str(exc)
    if isinstance(exc, ListenError):
        params = {"setting": exc.key, "listen": exc.listen, "detail": detail}
        print(message("cli.serve.cannot_bind", language, **params), file=sys.stderr)
        return
    if isinstance(exc, OSError) and exc.filename:
        detail = f"{exc.filename}: {detail}"
    print(message("cli.serve.cannot_start", language, detail=detail), file=sys.stderr)
