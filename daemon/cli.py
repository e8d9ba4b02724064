"""The `renkei` command: thin wrappers that parse options and call one library function.

Heavy modules (the web framework, the SMTP server) are imported only by the commands
that use them, so `renkei import` and `renkei check` start fast. What a person reads is
said from the message catalog in the config's `report.language` (fallback_language()
when the config cannot be loaded); `--json` output and log lines stay as they are.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import tomllib
from pathlib import Path

from daemon.settings import DEFAULT_CONFIG, ConfigError, Settings, load
from importers.messages import LANGUAGES, message

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def config_path(option: str | None) -> Path:
    return Path(option or os.environ.get("RENKEI_CONFIG") or DEFAULT_CONFIG)


def _load(option: str | None) -> Settings | None:
    path = config_path(option)
    try:
        return load(path)
    except ConfigError as exc:
        # The problems are the settings' own words (English, as pydantic and the cross
        # checks write them), the same lines the daemon logs when a reload is refused;
        # only the heading is translated so far.
        count = len(exc.problems)
        heading = message("cli.config.invalid", fallback_language(path), path=path, count=count)
        print(heading, file=sys.stderr)
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def fallback_language(path: Path) -> str:
    """The language to speak when the config cannot be loaded: its `report.language`
    when the file still reads as TOML; else English when the locale asks for it (the
    first of LC_ALL, LC_MESSAGES, LANG that is set starts with `en`); else Japanese,
    renkei's default."""
    with contextlib.suppress(OSError, ValueError):  # unreadable, not UTF-8, not TOML
        report = tomllib.loads(path.read_text(encoding="utf-8")).get("report")
        if isinstance(report, dict) and report.get("language") in LANGUAGES:
            return report["language"]
    names = ("LC_ALL", "LC_MESSAGES", "LANG")
    locale = next((os.environ[n] for n in names if os.environ.get(n)), "")
    return "en" if locale.startswith("en") else "ja"


def cmd_check(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return EXIT_FAILED
    path = config_path(args.config)
    counts = {"accounts": len(settings.accounts), "layouts": len(settings.layouts)}
    print(message("cli.check.ok", settings.report.language, path=path, **counts))
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
        refusal = message("cli.unknown_account", settings.report.language, name=repr(args.account))
        print(f"--account: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    path = Path(args.file)
    if not path.is_file():
        print(message("cli.no_such_file", settings.report.language, path=path), file=sys.stderr)
        return EXIT_USAGE
    from daemon.oneshot import import_file
    from daemon.store.runs import RunState

    run = asyncio.run(import_file(settings, path, args.account, progress=sys.stderr.isatty()))
    language = settings.report.language
    print(json.dumps(run, ensure_ascii=False, indent=2) if args.json else _summary(run, language))
    return EXIT_OK if run["state"] == RunState.COMPLETED else EXIT_FAILED


def _summary(run: dict, language: str) -> str:
    from daemon.report.message import summary

    dry = message("cli.dry_run", language) if run["dry_run"] else ""
    head = {"id": run["id"], "state": run["state"], "mode": run["mode"], "dry": dry}
    lines = [
        message(
            "cli.import.summary",
            language,
            **head,
            total=run["rows_total"],
            counts=_counts(run, every=True),
        ),
        summary(run, language),
    ]
    return "\n".join([*lines, run["message"]] if run["message"] else lines)


def _counts(run: dict, every: bool = False) -> str:
    """`3 inserted, 0 updated, …`: every count, or only those that are not zero."""
    from daemon.report.message import DONE

    counts = [(run[f"rows_{kind}"], kind.replace("_", " ")) for kind in DONE]
    return ", ".join(f"{n} {kind}" for n, kind in counts if n or every)


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

    def heading(name: str) -> str:
        return message(f"cli.runs.{name}", settings.report.language)

    table = Table(
        heading("account"),
        heading("channel"),
        heading("file"),
        heading("state"),
        heading("mode"),
        heading("rows"),
        heading("imported"),
        heading("failed"),
        heading("result"),
        heading("received"),
        heading("message"),
    )
    table.columns.insert(0, Column(heading("id"), no_wrap=True))
    for r in runs:
        table.add_row(
            r["id"],
            r["account"],
            r["channel"],
            r["filename"],
            r["state"],
            r["mode"] + (message("cli.dry_run", settings.report.language) if r["dry_run"] else ""),
            str(r["rows_total"]),
            str(r["rows_imported"]),
            str(r["rows_failed"]),
            _counts(r),
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
    language = settings.report.language
    if not settings.api.enabled or not token:
        print(message("cli.poll.no_token", language), file=sys.stderr)
        return EXIT_USAGE
    host, port = split_listen(settings.api.listen)
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    url = f"http://{host}:{port}/api/v1/accounts/{args.name}/poll"
    # The daemon's own refusal is printed as it says it: in our language too.
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": language}
    try:
        reply = httpx.post(url, headers=headers, timeout=60)
    except httpx.HTTPError as exc:
        unreachable = message("cli.poll.unreachable", language, host=host, port=port, detail=exc)
        print(unreachable, file=sys.stderr)
        return EXIT_FAILED
    body = reply.json()
    if reply.status_code != 200:
        print(f"{args.name}: {body.get('message', reply.text)}", file=sys.stderr)
        return EXIT_FAILED
    runs = body["runs"]
    print(message("cli.poll.taken", language, name=args.name, count=len(runs)))
    for run in runs:
        print(f"  {run['id']}  {run['url']}")
    return EXIT_OK


def cmd_schedule(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return EXIT_FAILED
    language = settings.report.language
    account = settings.accounts.get(args.name)
    if account is None:
        print(message("cli.unknown_account", language, name=repr(args.name)), file=sys.stderr)
        return EXIT_USAGE
    if account.ftp is None:
        print(message("cli.schedule.no_ftp", language, name=args.name))
        return EXIT_OK
    import datetime as dt

    from daemon.poll.windows import Schedule, next_checks

    ftp = account.ftp
    head = {"weekdays": ", ".join(ftp.weekdays), "window": ftp.window, "interval": ftp.interval}
    head |= {"delay": ftp.delay, "timezone": settings.daemon.timezone}
    print(message("cli.schedule.head", language, name=args.name, **head))
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
