"""`renkei check`: reads the config and looks at the store, as start and reload would,
and says what they would refuse or warn of; writes nothing. Run by daemon/cli."""

from __future__ import annotations

import argparse
import asyncio

from daemon.cli import EXIT_FAILED, EXIT_OK, load_config, print_problems
from daemon.cli.parser import config_path
from daemon.settings import check_warnings
from importers.messages import message


def cmd_check(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    if settings is None:
        return EXIT_FAILED
    path = config_path(args.config)
    language = settings.report.language
    from daemon.store.peek import store_findings

    # What start and reload refuse about the store is refused here too; the store only
    # looked at, never made or migrated.
    refused, unseen = asyncio.run(store_findings(settings))
    # Warnings are said, not refused: the config still loads, so the exit stays 0.
    if warnings := [*check_warnings(settings), *unseen]:
        print_problems("cli.config.warnings", warnings, language, path)
    if refused:
        print_problems("cli.config.invalid", refused, language, path)
        return EXIT_FAILED
    counts = {"accounts": len(settings.accounts), "layouts": len(settings.layouts)}
    print(message("cli.check.ok", language, path=path, **counts))
    return EXIT_OK
