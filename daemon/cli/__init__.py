"""The `renkei` command: parses the command line and runs the one command it names, from
its own module of this package; called by daemon/entry.py and `python -m daemon.cli`.

Heavy modules (the web framework, the SMTP server) are imported only by the commands
that use them, and each command's module only when that command runs, so `renkei
import` and `renkei check` start fast. What a person reads is said from the message
catalog in the config's `report.language` (fallback_language() when the config cannot
be loaded); `--json` output and log lines stay as they are.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import io
import logging
import os
import sys
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from daemon import logs
from daemon.cli.parser import (
    Handler,
    argv_language,
    build_parser,
    command_parser,
    config_path,
    fallback_language,
    speaking,
)
from daemon.settings import ConfigError, Problem, Settings, load
from daemon.store.errors import StoreTooNew, StoreUnavailable
from importers.messages import message

if TYPE_CHECKING:
    from daemon.oneshot import Found
    from daemon.settings.switches import Switches

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# A store written by a newer renkei: restarting this one cannot help, so the unit file
# names this status in RestartPreventExitStatus= (systemd/renkei.service).
EXIT_STORE_TOO_NEW = 3
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE: what a shell reports of a command ended by it
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as for EXIT_PIPE_CLOSED
# The commands whose output is what they are run for: output lost, they failed. The
# others' exit says what they did (an import that completed is 0, its summary lost or
# not): a cron job that retries a failure would import the file twice.
REPORTING = frozenset({None, "check", "runs", "show", "schedule", "passwd"})


def load_config(option: str | None) -> Settings | None:
    path = config_path(option)
    try:
        return load(path)
    except ConfigError as exc:
        # Said in the config's language; the daemon logs the same problems in English
        # when it refuses a reload.
        print_problems("cli.config.invalid", exc.problems, fallback_language(path), path)
        return None


def print_problems(heading: str, problems: list[Problem], language: str, path: Path) -> None:
    print(message(heading, language, path=path, count=len(problems)), file=sys.stderr)
    for problem in problems:
        print(problem.render(language), file=sys.stderr)


def run_named(settings: Settings, ref: str) -> Found | int:
    """The run `ref` names (its id, or the start or end of it: oneshot.find_run), or the
    exit code once it is said that it names none or several."""
    from daemon.oneshot import find_run

    found = asyncio.run(find_run(settings, ref.strip()))
    if found.run is None:
        return _not_one_run(found, ref, settings.report.language)
    return found


def _not_one_run(found: Found, ref: str, language: str) -> int:
    """Say that `ref` names no run (exit 1) or several (exit 2, listing them)."""
    if not found.candidates:
        print(message("cli.show.unknown", language, ref=repr(ref)), file=sys.stderr)
        return EXIT_FAILED
    ambiguous = message("cli.show.ambiguous", language, ref=repr(ref))
    more = [f"  {message('cli.show.more_candidates', language)}"] if found.more else []
    print("\n".join([ambiguous, *(f"  {i}" for i in found.candidates), *more]), file=sys.stderr)
    return EXIT_USAGE


def switched(settings: Settings) -> Settings:
    """`settings` with the console's account switches laid over, as the daemon applies
    them: those kept in data_dir, and a shared store's over them."""
    from daemon.settings.switches import Switches

    switches = Switches(settings.data_dir)
    if settings.store.url is not None:
        asyncio.run(read_shared(switches, settings))
    return switches.view(settings)


async def read_shared(switches: Switches, settings: Settings) -> None:
    from daemon.store.open import open_store

    store = await open_store(settings)
    try:
        await switches.read_shared(store)
    finally:
        await store.close()


# Each command's module of this package and its function there. The module is imported
# when its command runs, not before: `renkei import` reads none of the others' modules.
HANDLERS = {
    "serve": ("serve", "cmd_serve"),
    "check": ("check", "cmd_check"),
    "import": ("importing", "cmd_import"),
    "runs": ("history", "cmd_runs"),
    "show": ("history", "cmd_show"),
    "retry": ("remote", "cmd_retry"),
    "undo": ("undo", "cmd_undo"),
    "sweep": ("upkeep", "cmd_sweep"),
    "expect-check": ("upkeep", "cmd_expect_check"),
    "digest": ("upkeep", "cmd_digest"),
    "poll": ("remote", "cmd_poll"),
    "send": ("remote", "cmd_send"),
    "passwd": ("passwd", "cmd_passwd"),
    "schedule": ("schedule", "cmd_schedule"),
}


def _handler(module: str, name: str) -> Handler:
    def handle(args: argparse.Namespace) -> int:
        return getattr(import_module(f"{__name__}.{module}"), name)(args)

    return handle


def parse(argv: list[str] | None) -> argparse.Namespace:
    """`argv` (sys.argv's when None) read; help and usage errors said in the language of
    the config it names, and argparse's exits (0 for --help, 2 for a usage error) kept."""
    argv = sys.argv[1:] if argv is None else argv
    language = argv_language(argv)
    handlers = {command: _handler(*where) for command, where in HANDLERS.items()}
    with speaking(language):
        parser = build_parser(language, handlers)
        args, extra = parser.parse_known_args(argv)
        if extra:
            # Said with the command's usage, not the top level's: argparse leaves what
            # a subcommand did not know to the top parser, which names no option.
            words = argparse._("unrecognized arguments: %s")  # type: ignore[attr-defined]
            command_parser(parser, args.command).error(words % " ".join(extra))
        return args


def _one_shot_logs() -> None:
    """A one-shot command says what matters in the catalog's words. The daemon's log
    lines (English, for the journal) reach its terminal only when RENKEI_LOG_LEVEL
    asks for them; else Python would print each warning bare on stderr."""
    if os.environ.get("RENKEI_LOG_LEVEL"):
        logs.configure()
    else:
        logging.getLogger().addHandler(logging.NullHandler())


class Output(io.RawIOBase):
    """stdout's file descriptor, written until a write fails (a full disk, a closed
    pipe) or when it was closed at the start: what follows is dropped and the first
    failure kept, to be said once the command has done its work, never as a traceback
    from the middle of it."""

    def __init__(self, closed: bool) -> None:
        super().__init__()
        self.was_closed = closed  # fd 1 holds /dev/null in its place
        self.lost: OSError | None = None

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return 1

    def isatty(self) -> bool:
        return not self.was_closed and os.isatty(1)

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.lost is None:
            try:
                if self.was_closed:
                    raise OSError(errno.EBADF, os.strerror(errno.EBADF))
                view = memoryview(data)
                while view:
                    view = view[os.write(1, view) :]
            except OSError as exc:
                self.lost = exc
        return len(data)


def _kept_stdout() -> Output | None:
    """The process's stdout written through Output, in the terminal's encoding with
    what it cannot say escaped (a ① in a file name on an EUC-JP terminal): None when
    stdout is another's (a test's capture, a wrapper calling main())."""
    stream = sys.stdout
    if isinstance(stream, io.TextIOWrapper) and isinstance(
        getattr(stream.buffer, "raw", None), Output
    ):
        raw = stream.buffer.raw
        raw.lost = None
        return raw
    if stream is not sys.__stdout__:
        return None
    try:
        os.fstat(1)
        closed = False
    except OSError:
        # Closed (`>&-`): /dev/null takes fd 1, else the next file opened (the
        # database) would be fd 1, and what is printed would be written into it.
        closed = True
        null = os.open(os.devnull, os.O_WRONLY)
        if null != 1:
            os.dup2(null, 1)
            os.close(null)
    raw = Output(closed)
    encoding = getattr(stream, "encoding", None) or "utf-8"
    errors = getattr(stream, "errors", None) or "strict"
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(raw),
        encoding=encoding,
        # surrogateescape too (a C or POSIX locale): it escapes only bytes read in, and
        # Japanese it cannot encode was a traceback.
        errors="backslashreplace" if errors in ("strict", "surrogateescape") else errors,
        line_buffering=bool(getattr(stream, "line_buffering", False)),
    )
    return raw


def _delivered(code: int, output: Output | None, command: str | None, argv: list[str]) -> int:
    """`code`, once the output is flushed; when it could not all be written, said on
    stderr (a reader gone from a pipe needs no word), and a reporting command failed."""
    sys.stdout.flush()
    lost = output.lost if output is not None else None
    if lost is None:
        return code
    reporting = command in REPORTING
    if isinstance(lost, BrokenPipeError):
        return EXIT_PIPE_CLOSED if reporting else code
    from daemon.settings.problems import OsTrouble

    language = argv_language(argv)
    closed = output is not None and output.was_closed
    detail = message("cli.output_closed", language) if closed else OsTrouble(lost).render(language)
    print(message("cli.output_lost", language, detail=detail), file=sys.stderr)
    return EXIT_FAILED if reporting and code == EXIT_OK else code


def main(argv: list[str] | None = None) -> int:
    output = _kept_stdout()
    given = sys.argv[1:] if argv is None else argv
    command = None
    try:
        try:
            args = parse(argv)
        except SystemExit as ended:  # --help, --version, or a usage error: argparse's exit
            code = ended.code if isinstance(ended.code, int) else EXIT_OK
            if (delivered := _delivered(code, output, command, given)) != code:
                raise SystemExit(delivered) from None
            raise
        command = args.command
        if args.command != "serve":  # which logs as a daemon does (daemon/logs.py)
            _one_shot_logs()
        return _delivered(args.handler(args), output, command, given)
    except KeyboardInterrupt:
        language = argv_language(sys.argv[1:] if argv is None else argv)
        print(message("cli.interrupted", language), file=sys.stderr)
        return EXIT_INTERRUPTED
    except StoreUnavailable as exc:
        print(exc, file=sys.stderr)
        return EXIT_STORE_TOO_NEW if isinstance(exc, StoreTooNew) else EXIT_FAILED
    except BrokenPipeError:
        # Whoever read our output stopped (`renkei runs | head`): nothing is wrong to
        # say. What is still buffered goes nowhere, or the exit's flush fails again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE_CLOSED
