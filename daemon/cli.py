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
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.cliparser import (
    MAX_RUNS,
    argv_language,
    build_parser,
    config_path,
    fallback_language,
    speaking,
)
from daemon.settings import (
    ConfigError,
    Problem,
    Settings,
    check_warnings,
    load,
)
from daemon.settings.problems import OsTrouble
from daemon.store.errors import StoreTooNew, StoreUnavailable
from importers.messages import message

if TYPE_CHECKING:
    import datetime as dt

    import httpx

    from daemon.oneshot import Found
    from daemon.settings.switches import Switches

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# A store written by a newer renkei: restarting this one cannot help, so the unit file
# names this status in RestartPreventExitStatus= (systemd/renkei.service).
EXIT_STORE_TOO_NEW = 3


MIN_PASSWORD = 8  # characters: a console password guessed online is throttled, not slowed


def _load(option: str | None) -> Settings | None:
    path = config_path(option)
    try:
        return load(path)
    except ConfigError as exc:
        # Said in the config's language; the daemon logs the same problems in English
        # when it refuses a reload.
        _print_problems("cli.config.invalid", exc.problems, fallback_language(path), path)
        return None


def _print_problems(heading: str, problems: list[Problem], language: str, path: Path) -> None:
    print(message(heading, language, path=path, count=len(problems)), file=sys.stderr)
    for problem in problems:
        print(problem.render(language), file=sys.stderr)


def cmd_check(args: argparse.Namespace) -> int:
    settings = _load(args.config)
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
        _print_problems("cli.config.warnings", warnings, language, path)
    if refused:
        _print_problems("cli.config.invalid", refused, language, path)
        return EXIT_FAILED
    counts = {"accounts": len(settings.accounts), "layouts": len(settings.layouts)}
    print(message("cli.check.ok", language, path=path, **counts))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from daemon import earlyhup
    from daemon.serving import AlreadyServing, hold

    earlyhup.hold()  # already held by daemon/entry.py, unless run as `-m daemon.cli`
    settings = _load(args.config)
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
        logging.getLogger("renkei").error("cannot start: %s", exc)
        return EXIT_FAILED
    try:
        return asyncio.run(Master(settings, path.resolve()).run())
    except ConfigError as exc:  # a layout its table cannot take (the store is read now)
        _print_problems("cli.config.invalid", exc.problems, settings.report.language, path)
        return EXIT_FAILED
    except (OSError, ImportProcessDied) as exc:
        # A port in use, a data_dir we may not write: say which, without a traceback.
        logging.getLogger("renkei").error("cannot start: %s", exc)
        return EXIT_FAILED
    finally:
        os.close(lock)


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
    if _stopped(settings, args.account):
        # As the console's upload and a retry are: a stopped account imports nothing.
        stopped = message("api.account_stopped", settings.report.language, name=args.account)
        print(stopped, file=sys.stderr)
        return EXIT_FAILED
    from daemon.oneshot import find_run, import_file
    from daemon.store.runs import RunState

    progress = sys.stderr.isatty()
    language = settings.report.language
    try:
        run = asyncio.run(import_file(settings, path, args.account, progress, args.dry_run))
    except ConfigError as exc:  # a layout its table cannot take
        _print_problems("cli.config.invalid", exc.problems, language, config_path(args.config))
        return EXIT_FAILED
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
    if run["state"] == RunState.COMPLETED and not run["dry_run"]:
        _not_forwarded(settings, args.account)
    return EXIT_OK if run["state"] == RunState.COMPLETED else EXIT_FAILED


def _stopped(settings: Settings, account: str) -> bool:
    """Whether `account` is stopped, by the config or by a console switch."""
    return _switched(settings).accounts[account].status == "stopped"


def _switched(settings: Settings) -> Settings:
    """`settings` with the console's account switches laid over, as the daemon applies
    them: those kept in data_dir, and a shared store's over them."""
    from daemon.settings.switches import Switches

    switches = Switches(settings.data_dir)
    if settings.store.url is not None:
        asyncio.run(_read_shared(switches, settings))
    return switches.view(settings)


async def _read_shared(switches: Switches, settings: Settings) -> None:
    from daemon.store.open import open_store

    store = await open_store(settings)
    try:
        await switches.read_shared(store)
    finally:
        await store.close()


def _not_forwarded(settings: Settings, account: str) -> None:
    """Sends and calls that follow the account's imports run in the daemon only: say
    so, rather than let a one-shot import look forwarded when it was not."""
    names = [f"sends.{name}" for name, s in settings.sends.items() if account in s.after_import]
    names += [f"calls.{name}" for name, c in settings.calls.items() if account in c.after_import]
    if names:
        text = message("cli.import.not_forwarded", settings.report.language, names=", ".join(names))
        print(text, file=sys.stderr)


def _summary(run: dict, language: str) -> str:
    from daemon.report.message import summary

    dry = message("cli.dry_run", language) if run["dry_run"] else ""
    head = {"id": run["id"], "state": run["state"], "mode": run["mode"], "dry": dry}
    rows = {"total": run["rows_total"], "imported": run["rows_imported"]}
    counts = message("report.counts", language, failed=run["rows_failed"], **rows)
    lines = [
        message("cli.import.summary", language, **head, counts=counts),
        summary(run, language),
    ]
    return "\n".join([*lines, run["message"]] if run["message"] else lines)


def cmd_runs(args: argparse.Namespace) -> int:
    settings = _load(args.config)
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
    if args.json:
        print(json.dumps(runs, ensure_ascii=False, indent=2))
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
    settings = _load(args.config)
    if settings is None:
        return EXIT_FAILED
    from daemon.oneshot import find_run
    from daemon.runview import show_json, show_lines

    language = settings.report.language
    save = Path(args.save) if args.save else None
    refusal = None if save is None else _save_refusal(save, language)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return EXIT_USAGE
    found = asyncio.run(find_run(settings, args.run.strip()))
    if found.run is None:
        return _not_one_run(found, args.run, language)
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
        print(message("cli.show.not_kept", language), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _not_one_run(found: Found, ref: str, language: str) -> int:
    """Say that `ref` names no run (exit 1) or several (exit 2, listing them)."""
    if not found.candidates:
        print(message("cli.show.unknown", language, ref=repr(ref)), file=sys.stderr)
        return EXIT_FAILED
    ambiguous = message("cli.show.ambiguous", language, ref=repr(ref))
    print("\n".join([ambiguous, *(f"  {i}" for i in found.candidates)]), file=sys.stderr)
    return EXIT_USAGE


def _ask_daemon(
    settings: Settings, path: str, no_token: str, body: dict | None = None
) -> httpx.Response | int:
    """POST `path` to the running daemon's API with the admin token: its reply, or the
    exit code once it was said why the daemon could not be asked."""
    import httpx

    from daemon.settings import resolve_secret, split_listen

    # A config that keeps only the token's sha256 cannot give it back: the caller may.
    token = os.environ.get("RENKEI_ADMIN_TOKEN") or resolve_secret(settings.api.admin_token)
    language = settings.report.language
    if not settings.api.enabled or not token:
        print(message(no_token, language), file=sys.stderr)
        return EXIT_USAGE
    host, port = split_listen(settings.api.listen)
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    # The daemon's own refusal is printed as it says it: in our language too.
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": language}
    scheme, verify = "http", True
    if settings.api.tls_cert is not None:
        from daemon.settings.tls import pinned_context

        # Our own daemon: its own certificate is trusted, whatever name it bears.
        scheme, verify = "https", pinned_context(settings.path(settings.api.tls_cert))
    url = f"{scheme}://{host}:{port}{path}"
    try:
        return httpx.post(url, headers=headers, json=body, timeout=60, verify=verify)
    except httpx.HTTPError as exc:
        detail = OsTrouble(exc).render(language)
        unreachable = message("cli.poll.unreachable", language, host=host, port=port, detail=detail)
        print(unreachable, file=sys.stderr)
        return EXIT_FAILED


def _answer(reply: httpx.Response) -> dict:
    """The daemon's JSON answer; {} for one that is none (a proxy's page, a bare 500),
    whose text is then what the caller says."""
    try:
        body = reply.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def cmd_poll(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return EXIT_FAILED
    language = settings.report.language
    reply = _ask_daemon(settings, f"/api/v1/accounts/{args.name}/poll", "cli.poll.no_token")
    if isinstance(reply, int):
        return reply
    body = _answer(reply)
    if reply.status_code != 200:
        print(f"{args.name}: {body.get('message', reply.text)}", file=sys.stderr)
        return EXIT_FAILED
    runs = body["runs"]
    print(message("cli.poll.taken", language, name=args.name, count=len(runs)))
    for run in runs:
        print(f"  {run['id']}  {run['url']}")
    return EXIT_OK


def cmd_retry(args: argparse.Namespace) -> int:
    """Through the running daemon, which alone decides whether a retry of the run is
    already waiting and wakes its import process at once."""
    settings = _load(args.config)
    if settings is None:
        return EXIT_FAILED
    from daemon.oneshot import find_run

    language = settings.report.language
    found = asyncio.run(find_run(settings, args.run.strip()))
    if found.run is None:
        return _not_one_run(found, args.run, language)
    run_id = found.run["id"]
    reply = _ask_daemon(settings, f"/api/v1/runs/{run_id}/retry", "cli.retry.no_token")
    if isinstance(reply, int):
        return reply
    body = _answer(reply)
    if reply.status_code not in (200, 202):
        print(f"{run_id}: {body.get('message', reply.text)}", file=sys.stderr)
        return EXIT_FAILED
    said = "cli.retry.done" if reply.status_code == 202 else "cli.retry.pending"
    print(message(said, language, run=run_id, id=body["id"]))
    return EXIT_OK


def cmd_undo(args: argparse.Namespace) -> int:
    """In the store itself, not through the daemon: an undo is one transaction that the
    store serializes with the daemon's imports, so it needs no admin token and works
    whether or not the daemon runs."""
    settings = _load(args.config)
    if settings is None:
        return EXIT_FAILED
    import getpass

    from daemon.oneshot import find_run, undo_run

    language = settings.report.language
    found = asyncio.run(find_run(settings, args.run.strip()))
    if found.run is None:
        return _not_one_run(found, args.run, language)
    run = found.run
    undone = asyncio.run(undo_run(settings, run["id"], getpass.getuser()))
    if undone.refusal is not None:
        params = {"run_id": run["id"], "state": run["state"], "other": undone.other}
        print(message(f"api.{undone.refusal}", language, **params), file=sys.stderr)
        return EXIT_FAILED
    counts = {"deleted": undone.deleted, "restored": undone.restored}
    print(message("cli.undo.done", language, run=run["id"], id=undone.run_id, **counts))
    return EXIT_OK


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
    settings = _load(args.config)
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
    settings = _load(args.config)
    if settings is None:
        return EXIT_FAILED
    from daemon.poll.expected import check_now

    language = settings.report.language
    now = _now_option(args.now, settings)
    if now is None:
        return EXIT_USAGE
    # A stopped account is never alerted, whether its config or the console stopped it.
    checked = asyncio.run(check_now(_switched(settings), now))
    counts = {"missing": len(checked.missing), "arrived": len(checked.arrived)}
    print(message("cli.expect.done", language, now=now.isoformat(timespec="seconds"), **counts))
    return EXIT_OK


def cmd_digest(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return EXIT_FAILED
    from daemon.poll.digest import digest_now

    language = settings.report.language
    if args.account is not None and args.account not in settings.accounts:
        print(message("cli.unknown_account", language, name=repr(args.account)), file=sys.stderr)
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
    return EXIT_OK


def cmd_send(args: argparse.Namespace) -> int:
    """Through the running daemon, which builds, spools and delivers the send."""
    settings = _load(args.config)
    if settings is None:
        return EXIT_FAILED
    language = settings.report.language
    where = {}
    for item in args.where or []:
        column, sep, value = item.partition("=")
        if not sep or not column:
            print(message("cli.send.bad_where", language, item=item), file=sys.stderr)
            return EXIT_USAGE
        where[column.strip()] = value
    from urllib.parse import quote

    from daemon.settings.checks import outward_name

    # No send is named so: not asked, since such a name would reach another path.
    unknown = message("api.not_found.send", language, name=args.name)
    if not outward_name(args.name):
        print(unknown, file=sys.stderr)
        return EXIT_FAILED
    # One path segment, whatever it holds: `..`-free by the rule, `/` `?` `#` `%` escaped.
    path = f"/api/v1/sends/{quote(args.name, safe='')}"
    reply = _ask_daemon(settings, path, "cli.poll.no_token", {"where": where})
    if isinstance(reply, int):
        return reply
    body = _answer(reply)
    if reply.status_code == 404:
        print(unknown, file=sys.stderr)
        return EXIT_FAILED
    if reply.status_code != 202:
        print(f"{args.name}: {body.get('message', reply.text)}", file=sys.stderr)
        return EXIT_FAILED
    print(message("cli.send.started", language, name=args.name, id=body["id"]))
    return EXIT_OK


def cmd_passwd(args: argparse.Namespace) -> int:
    """Print the hash of a console password, to paste into `[users.NAME]`."""
    from daemon.settings.passwords import hash_password

    language = fallback_language(config_path(args.config))
    # A name from bytes that are not UTF-8 (a surrogate escape of each): no config holds it.
    if args.user and any("\ud800" <= char <= "\udfff" for char in args.user):
        print(message("cli.passwd.bad_name", language, name=repr(args.user)), file=sys.stderr)
        return EXIT_USAGE
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

        try:
            password = getpass.getpass(message("cli.passwd.prompt", language))
            again = getpass.getpass(message("cli.passwd.again", language))
        except EOFError:
            password, again = "", None
        if again is not None and password != again:
            print(message("cli.passwd.mismatch", language), file=sys.stderr)
            return 1
    if len(password) < MIN_PASSWORD:
        print(message("cli.passwd.short", language, n=MIN_PASSWORD), file=sys.stderr)
        return 1
    hashed = hash_password(password)
    if args.user:
        print(f'[users.{toml_key(args.user)}]\npassword_hash = "{hashed}"\nrole = "viewer"')
    else:
        print(hashed)
    return 0


# What a TOML basic string writes as an escape; other control characters as \uXXXX.
_TOML_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def toml_key(name: str) -> str:
    """`name` as a TOML key: bare when it is ASCII letters, digits, `-` and `_` alone;
    else quoted, as `[users."さとう"]` must be for the config to read at all."""
    if name and all(char.isascii() and (char.isalnum() or char in "-_") for char in name):
        return name
    quoted = "".join(_TOML_ESCAPES.get(c, f"\\u{ord(c):04X}" if _control(c) else c) for c in name)
    return f'"{quoted}"'


def _control(char: str) -> bool:
    return char < " " or char == "\x7f"


def cmd_schedule(args: argparse.Namespace) -> int:
    settings = _load(args.config)
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


HANDLERS = {
    "serve": cmd_serve,
    "check": cmd_check,
    "import": cmd_import,
    "runs": cmd_runs,
    "show": cmd_show,
    "retry": cmd_retry,
    "undo": cmd_undo,
    "sweep": cmd_sweep,
    "expect-check": cmd_expect_check,
    "digest": cmd_digest,
    "poll": cmd_poll,
    "send": cmd_send,
    "passwd": cmd_passwd,
    "schedule": cmd_schedule,
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    """`argv` (sys.argv's when None) read; help and usage errors said in the language of
    the config it names, and argparse's exits (0 for --help, 2 for a usage error) kept."""
    argv = sys.argv[1:] if argv is None else argv
    language = argv_language(argv)
    with speaking(language):
        return build_parser(language, HANDLERS).parse_args(argv)


EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE: what a shell reports of a command ended by it


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse(argv)
        code = args.handler(args)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at the exit
        return code
    except KeyboardInterrupt:
        return 130
    except StoreUnavailable as exc:
        print(exc, file=sys.stderr)
        return EXIT_STORE_TOO_NEW if isinstance(exc, StoreTooNew) else EXIT_FAILED
    except BrokenPipeError:
        # Whoever read our output stopped (`renkei runs | head`): nothing is wrong to
        # say. What is still buffered goes nowhere, or the exit's flush fails again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE_CLOSED


if __name__ == "__main__":
    sys.exit(main())
