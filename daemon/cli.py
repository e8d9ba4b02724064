"""The `renkei` command: thin wrappers that parse options and call one library function.

Heavy modules (the web framework, the SMTP server) are imported only by the commands
that use them, so `renkei import` and `renkei check` start fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from daemon.settings import DEFAULT_CONFIG, ConfigError, Settings, load

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def config_path(option: str | None) -> Path:
    return Path(option or os.environ.get("RENKEI_CONFIG") or DEFAULT_CONFIG)


def _load(option: str | None) -> Settings | None:
    try:
        return load(config_path(option))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def cmd_check(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return EXIT_FAILED
    print(
        f"{config_path(args.config)}: ok ({len(settings.accounts)} accounts, "
        f"{len(settings.layouts)} layouts)"
    )
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return EXIT_FAILED
    from daemon import logs
    from daemon.master import Master

    logs.configure()
    from daemon.worker.supervisor import ImportProcessDied

    try:
        return asyncio.run(Master(settings, config_path(args.config).resolve()).run())
    except (OSError, ImportProcessDied) as exc:
        # A port in use, a data_dir we may not write: say which, without a traceback.
        logging.getLogger("renkei").error("cannot start: %s", exc)
        return EXIT_FAILED


def cmd_import(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return EXIT_FAILED
    if args.account not in settings.accounts:
        print(f"--account: {args.account!r} is not an account in the config", file=sys.stderr)
        return EXIT_USAGE
    path = Path(args.file)
    if not path.is_file():
        print(f"{path}: no such file", file=sys.stderr)
        return EXIT_USAGE
    from daemon.oneshot import import_file
    from daemon.store.runs import RunState

    run = asyncio.run(import_file(settings, path, args.account, progress=sys.stderr.isatty()))
    print(json.dumps(run, ensure_ascii=False, indent=2) if args.json else _summary(run))
    return EXIT_OK if run["state"] == RunState.COMPLETED else EXIT_FAILED


def _summary(run: dict) -> str:
    text = (
        f"run {run['id']}: {run['state']} — {run['rows_imported']} imported, "
        f"{run['rows_failed']} failed of {run['rows_total']} rows"
    )
    return f"{text}\n{run['message']}" if run["message"] else text


def cmd_runs(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return EXIT_FAILED
    from daemon.oneshot import latest_runs

    runs = asyncio.run(latest_runs(settings, args.account, args.limit))
    if args.json:
        print(json.dumps(runs, ensure_ascii=False, indent=2))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Column, Table

    table = Table(
        "account",
        "channel",
        "file",
        "state",
        "rows",
        "imported",
        "failed",
        "received",
        "message",
    )
    table.columns.insert(0, Column("id", no_wrap=True))
    for r in runs:
        table.add_row(
            r["id"],
            r["account"],
            r["channel"],
            r["filename"],
            r["state"],
            str(r["rows_total"]),
            str(r["rows_imported"]),
            str(r["rows_failed"]),
            r["received_at"],
            r["message"][:60],
        )
    console = Console()
    if not console.is_terminal:  # piped: don't squeeze the table into 80 columns
        console.width = 200
    console.print(table)
    return EXIT_OK


def cmd_poll(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return EXIT_FAILED
    import httpx

    from daemon.settings import resolve_secret, split_listen

    # A config that keeps only the token's sha256 cannot give it back: the caller may.
    token = os.environ.get("RENKEI_ADMIN_TOKEN") or resolve_secret(settings.api.admin_token)
    if not settings.api.enabled or not token:
        print(
            "renkei poll needs [api] enabled and the admin token: set RENKEI_ADMIN_TOKEN,"
            " or api.admin_token in the config (a sha256 alone cannot be sent)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    host, port = split_listen(settings.api.listen)
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    url = f"http://{host}:{port}/api/v1/accounts/{args.name}/poll"
    try:
        reply = httpx.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    except httpx.HTTPError as exc:
        print(f"cannot reach the daemon at {host}:{port}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    body = reply.json()
    if reply.status_code != 200:
        print(f"{args.name}: {body.get('message', reply.text)}", file=sys.stderr)
        return EXIT_FAILED
    runs = body["runs"]
    print(f"{args.name}: {len(runs)} file(s) taken")
    for run in runs:
        print(f"  {run['id']}  {run['url']}")
    return EXIT_OK


def cmd_schedule(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return EXIT_FAILED
    account = settings.accounts.get(args.name)
    if account is None:
        print(f"{args.name!r} is not an account in the config", file=sys.stderr)
        return EXIT_USAGE
    if account.ftp is None:
        print(f"accounts.{args.name}.ftp is not set: the account has no scheduled checks")
        return EXIT_OK
    import datetime as dt

    from daemon.poll.windows import Schedule, next_checks

    ftp = account.ftp
    print(
        f"{args.name}: {', '.join(ftp.weekdays)} {ftp.window}, every {ftp.interval}, "
        f"{ftp.delay} after each tick ({settings.daemon.timezone})"
    )
    schedule = Schedule.of(ftp, settings.daemon.timezone)
    for moment in next_checks(schedule, dt.datetime.now(dt.UTC), args.count):
        print(moment.strftime("%Y-%m-%d %a %H:%M %z"))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="renkei", description="CSV linkage daemon")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:  # noqa: ANN001
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", help=f"config file (default $RENKEI_CONFIG or {DEFAULT_CONFIG})")
        p.set_defaults(handler=handler)
        return p

    command("serve", cmd_serve, "run the daemon in the foreground")
    command("check", cmd_check, "validate the config; list every problem with its key")
    p = command("import", cmd_import, "import one file through the daemon's pipeline")
    p.add_argument("file", help="the CSV file")
    p.add_argument("--account", required=True, help="the account it belongs to")
    p.add_argument("--json", action="store_true", help="print the run as JSON")
    p = command("runs", cmd_runs, "show the latest runs, newest first")
    p.add_argument("--account", help="only this account's runs")
    p.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    p.add_argument("--json", action="store_true", help="print a JSON array of runs")
    p = command("poll", cmd_poll, "ask the running daemon to check an account's FTP home now")
    p.add_argument("name", help="the account")
    p = command("schedule", cmd_schedule, "show an account's next FTP checks")
    p.add_argument("name", help="the account")
    p.add_argument("--count", type=int, default=5, help="how many checks (default 5)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
