"""`renkei poll`, `renkei retry` and `renkei send`: the commands that ask the running
daemon, over its admin API with the admin token, and say its answer. Run by daemon/cli."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from daemon.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, load_config, run_named
from daemon.settings import Settings
from daemon.settings.problems import OsTrouble
from importers.messages import message

if TYPE_CHECKING:
    import httpx


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
        detail = _trouble(exc, language)
        unreachable = message("cli.poll.unreachable", language, host=host, port=port, detail=detail)
        print(unreachable, file=sys.stderr)
        return EXIT_FAILED


def _trouble(exc: httpx.HTTPError, language: str) -> str:
    """What went wrong on the way to the daemon, in the catalog's words: httpx says
    the protocol's trouble in English ("Server disconnected without sending a
    response.") inside a Japanese sentence."""
    import httpx

    if isinstance(exc, httpx.RemoteProtocolError):
        return message("cli.remote.closed", language)
    if isinstance(exc, httpx.TimeoutException):
        return message("cli.remote.timeout", language)
    return OsTrouble(exc).render(language)


def _answer(reply: httpx.Response) -> dict:
    """The daemon's JSON answer; {} for one that is none (a proxy's page, a bare 500),
    whose text is then what the caller says."""
    try:
        body = reply.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def cmd_poll(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    if settings is None:
        return EXIT_FAILED
    language = settings.report.language
    from urllib.parse import quote

    # One path segment, as send's name is: `shop#1` asked of `shop`, `a/../b` of `b`.
    path = f"/api/v1/accounts/{quote(args.name, safe='')}/poll"
    reply = _ask_daemon(settings, path, "cli.poll.no_token")
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
    settings = load_config(args.config)
    if settings is None:
        return EXIT_FAILED
    language = settings.report.language
    found = run_named(settings, args.run)
    if isinstance(found, int):
        return found
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


def cmd_send(args: argparse.Namespace) -> int:
    """Through the running daemon, which builds, spools and delivers the send."""
    settings = load_config(args.config)
    if settings is None:
        return EXIT_FAILED
    language = settings.report.language
    where = {}
    for item in args.where or []:
        column, sep, value = item.partition("=")
        if not sep or not column:
            print(message("cli.send.bad_where", language, item=item), file=sys.stderr)
            return EXIT_USAGE
        column = column.strip()
        # Refused as the Records API refuses a field given twice: the last one silently
        # won, and a send went with the rows of one value where two were asked for.
        if column in where:
            print(message("cli.send.where_twice", language, column=column), file=sys.stderr)
            return EXIT_USAGE
        where[column] = value
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
