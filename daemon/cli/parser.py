"""The `renkei` command line's parser, in the catalog's words; read by daemon/cli/__init__.py.

What a person reads of it (help, usage, argparse's own refusals) is said in the language
of the config `--config` names, found before parsing (`argv_language`). argparse says its
own words through the module-level `_()` of gettext, which has no catalog to give it
short of compiled .mo files: `speaking()` stands in for it while the parser is built and
used, mapping argparse's msgids to catalog keys and leaving any other as it is.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon.settings import DEFAULT_CONFIG
from importers.messages import LANGUAGES, message

# `renkei runs --limit`: more runs than a person reads or a script takes in one answer
# (the API pages through the rest); past SQLite's 64-bit integers the query would fail.
MAX_RUNS = 100_000


def config_path(option: str | None) -> Path:
    return Path(option or os.environ.get("RENKEI_CONFIG") or DEFAULT_CONFIG)


def fallback_language(path: Path) -> str:
    """The language to speak before the config is loaded, or when it cannot be: the
    language the daemon would speak when the file still reads as TOML (its
    `report.language`, Japanese without one); else English when the locale asks for it
    (the first of LC_ALL, LC_MESSAGES, LANG that is set starts with `en`); else
    Japanese, renkei's default."""
    with contextlib.suppress(OSError, ValueError):  # unreadable, not UTF-8, not TOML
        report = tomllib.loads(path.read_text(encoding="utf-8")).get("report")
        language = report.get("language") if isinstance(report, dict) else None
        return language if language in LANGUAGES else "ja"
    names = ("LC_ALL", "LC_MESSAGES", "LANG")
    locale = next((os.environ[n] for n in names if os.environ.get(n)), "")
    return "en" if locale.startswith("en") else "ja"


def argv_language(argv: list[str]) -> str:
    """The language of the config `argv` names, looked for before argparse reads it:
    its help and refusals are said in it, and a usage error ends the parsing."""
    option = None
    for i, arg in enumerate(argv):
        if arg == "--":  # what follows is an operand, never our option
            break
        if arg == "--config" and i + 1 < len(argv):
            option = argv[i + 1]
        elif arg.startswith("--config="):
            option = arg.removeprefix("--config=")
    return fallback_language(config_path(option))


# argparse's msgids (Lib/argparse.py, Python 3.11) that a user of ours can meet, by the
# catalog key that says them. Their %-placeholders are kept, for argparse fills them.
ARGPARSE_WORDS = {
    "usage: ": "cli.argparse.usage",
    "positional arguments": "cli.argparse.positionals",
    "options": "cli.argparse.options",
    "show this help message and exit": "cli.argparse.help",
    "%(prog)s: error: %(message)s\n": "cli.argparse.error",
    "argument %(argument_name)s: %(message)s": "cli.argparse.argument",
    "unrecognized arguments: %s": "cli.argparse.unrecognized",
    "the following arguments are required: %s": "cli.argparse.required",
    "expected one argument": "cli.argparse.expected_one",
    "expected at most one argument": "cli.argparse.expected_at_most_one",
    "expected at least one argument": "cli.argparse.expected_at_least_one",
    "invalid %(type)s value: %(value)r": "cli.argparse.invalid_value",
    "invalid choice: %(value)r (choose from %(choices)s)": "cli.argparse.invalid_choice",
    "ambiguous option: %(option)s could match %(matches)s": "cli.argparse.ambiguous",
    "ignored explicit argument %r": "cli.argparse.ignored_explicit",
    "not allowed with argument %s": "cli.argparse.not_allowed_with",
    "one of the arguments %s is required": "cli.argparse.one_required",
}
_PLACEHOLDER = r"%\((\w+)\)[sr]|%[sr]"


def translate(msgid: str, language: str) -> str:
    """argparse's `msgid` in `language`, its placeholders as argparse wrote them (a bare
    `%s` or `%r` is the catalog's `{what}`); a msgid we do not know, unchanged."""
    key = ARGPARSE_WORDS.get(msgid) if isinstance(msgid, str) else None
    if key is None:
        return msgid
    found = re.finditer(_PLACEHOLDER, msgid)
    return message(key, language, **{m[1] or "what": m[0] for m in found})


@contextlib.contextmanager
def speaking(language: str) -> Iterator[None]:
    """argparse's own words said in `language` for the time of the block: its `_()`
    is looked up in its module when it speaks, while parsers are built and used."""
    said = argparse._  # type: ignore[attr-defined]
    argparse._ = lambda msgid: translate(msgid, language)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._ = said  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Option:
    """One argument of a command: its name, the catalog key of its help and of the word
    shown for its value, and argparse's other options for it."""

    name: str
    help: str
    metavar: str | None = None
    more: Mapping[str, Any] = field(default_factory=dict)


JSON_RUN = Option("--json", "cli.help.json_run", more={"action": "store_true"})
RUN = Option("run", "cli.help.run", "cli.metavar.run")
ACCOUNT = Option("name", "cli.help.account", "cli.metavar.name")

# Each command: the catalog key of its help, and its arguments besides --config.
COMMANDS: dict[str, tuple[str, tuple[Option, ...]]] = {
    "serve": ("cli.help.serve", ()),
    "check": ("cli.help.check", ()),
    "import": (
        "cli.help.import",
        (
            Option("file", "cli.help.import.file", "cli.metavar.file"),
            Option("--account", "cli.help.import.account", "cli.metavar.name", {"required": True}),
            JSON_RUN,
            Option("--dry-run", "cli.help.import.dry_run", more={"action": "store_true"}),
        ),
    ),
    "runs": (
        "cli.help.runs",
        (
            Option("--account", "cli.help.runs.account", "cli.metavar.name"),
            Option("--state", "cli.help.runs.state", "cli.metavar.state"),
            Option("--channel", "cli.help.runs.channel", "cli.metavar.channel"),
            Option("--since", "cli.help.runs.since", "cli.metavar.when"),
            Option(
                "--limit", "cli.help.runs.limit", "cli.metavar.count", {"type": int, "default": 20}
            ),
            Option("--json", "cli.help.runs.json", more={"action": "store_true"}),
        ),
    ),
    "show": (
        "cli.help.show",
        (RUN, JSON_RUN, Option("--save", "cli.help.show.save", "cli.metavar.folder")),
    ),
    "retry": ("cli.help.retry", (RUN,)),
    "undo": ("cli.help.undo", (RUN,)),
    "sweep": ("cli.help.sweep", (Option("--now", "cli.help.sweep.now", "cli.metavar.when"),)),
    "expect-check": (
        "cli.help.expect_check",
        (Option("--now", "cli.help.expect_check.now", "cli.metavar.when"),),
    ),
    "digest": (
        "cli.help.digest",
        (
            Option("--now", "cli.help.digest.now", "cli.metavar.when"),
            Option("--account", "cli.help.digest.account", "cli.metavar.name"),
        ),
    ),
    "poll": ("cli.help.poll", (ACCOUNT,)),
    "send": (
        "cli.help.send",
        (
            Option("name", "cli.help.send.name", "cli.metavar.name"),
            Option(
                "--where", "cli.help.send.where", "cli.metavar.column_value", {"action": "append"}
            ),
        ),
    ),
    "passwd": (
        "cli.help.passwd",
        (
            Option("user", "cli.help.passwd.user", "cli.metavar.user", {"nargs": "?"}),
            Option("--stdin", "cli.help.passwd.stdin", more={"action": "store_true"}),
        ),
    ),
    "schedule": (
        "cli.help.schedule",
        (
            ACCOUNT,
            Option(
                "--count",
                "cli.help.schedule.count",
                "cli.metavar.count",
                {"type": int, "default": 5},
            ),
        ),
    ),
}

Handler = Callable[[argparse.Namespace], int]


class _Version(argparse.Action):
    """`--version`: the installed package's version, looked up only when asked."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help=kwargs.get("help"))

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("renkei")
        except PackageNotFoundError:  # run from a source tree that was never installed
            found = "unknown"
        print(f"renkei {found}")
        parser.exit()


class _Formatter(argparse.HelpFormatter):
    """Help laid out by the columns a terminal gives it: argparse counts a character as
    one column, a Japanese one takes two."""

    def _format_usage(self, *args: Any) -> str:
        said = super()._format_usage(*args)
        wider = columns(said) - len(said)
        if max(map(columns, said.splitlines())) <= self._width:
            return said
        # Wrapped again, narrower by every column the wide characters add: no line of
        # it can then pass the width, at the cost of a line shorter than it could be.
        self._width -= wider
        try:
            return super()._format_usage(*args)
        finally:
            self._width += wider

    def _split_lines(self, text: str, width: int) -> list[str]:
        if columns(text) == len(text):
            return super()._split_lines(text, width)
        return wrap(text, width)

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if action.help is not argparse.SUPPRESS:  # the help column clears the widest
            wide = columns(self._format_action_invocation(action)) + self._current_indent
            self._action_max_length = max(self._action_max_length, wide)

    def _format_action(self, action: argparse.Action) -> str:
        text = super()._format_action(action)
        header = self._format_action_invocation(action)
        wider = columns(header) - len(header)
        end = text.find(header) + len(header)
        gap = len(text[end:]) - len(text[end:].lstrip(" "))
        if not wider or text[end + gap : end + gap + 1] in ("", "\n"):
            return text
        # argparse padded the header to its help by characters: take back the columns
        # its wide characters took, or, with no room left, start the help below it.
        if gap - wider >= 2:
            return text[:end] + text[end + wider :]
        return text[:end] + "\n" + " " * (end + gap) + text[end + gap :]


def columns(text: str) -> int:
    """The columns `text` takes on a terminal."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` columns, broken between words or before any
    Japanese character but one that closes a phrase (、。))."""
    lines, line = [], ""
    for token in re.findall(r"[!-\u2e7f]+|\s+|.[、。)」]*", text):
        if token.isspace():
            line += " " if line else ""
        elif line and columns(line + token) > width:
            lines.append(line.rstrip())
            line = token
        else:
            line += token
    return [*lines, line.rstrip()]


def build_parser(language: str, handlers: Mapping[str, Handler]) -> argparse.ArgumentParser:
    """The parser, its help in `language`; each command's handler in `args.handler`.
    Built inside `speaking(language)`, or argparse's own headings stay English."""

    def say(key: str) -> str:
        return message(key, language, default=DEFAULT_CONFIG, most=f"{MAX_RUNS:,}")

    parser = argparse.ArgumentParser(
        prog="renkei", description=say("cli.help.description"), formatter_class=_Formatter
    )
    parser.add_argument("--version", action=_Version, help=say("cli.help.version"))
    # Before the command too (`renkei --config PATH runs`), as many tools take it: it was
    # read as the command's name. The command's own, when given, wins.
    parser.add_argument("--config", metavar=say("cli.metavar.path"), help=say("cli.help.config"))
    metavar = say("cli.metavar.command")
    sub = parser.add_subparsers(dest="command", required=True, metavar=metavar)
    for name, (help_key, options) in COMMANDS.items():
        p = sub.add_parser(
            name, help=say(help_key), description=say(help_key), formatter_class=_Formatter
        )
        p.add_argument(
            "--config",
            metavar=say("cli.metavar.path"),
            help=say("cli.help.config"),
            default=argparse.SUPPRESS,  # not to undo one given before the command
        )
        for option in options:
            _add(p, option, say, language)
        p.set_defaults(handler=handlers[name])
    return parser


def command_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of the command `name` among `parser`'s subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise KeyError(name)


def _add(
    parser: argparse.ArgumentParser, option: Option, say: Callable[[str], str], language: str
) -> None:
    more = dict(option.more)
    if more.get("type") is int:
        more["type"] = _integer(language)
    if option.metavar is not None:
        more["metavar"] = say(option.metavar)
    parser.add_argument(option.name, help=say(option.help), **more)


def _integer(language: str) -> Callable[[str], int]:
    """int, named in `language`: argparse names a value's type by its __name__ when it
    refuses the value (`invalid int value: 'x'`)."""

    def integer(text: str) -> int:
        return int(text)

    integer.__name__ = message("cli.argparse.integer", language)
    return integer
