"""`renkei passwd`: a console password's hash printed, alone or as the `[users.NAME]`
table to paste into the config; reads no config but for its language. Run by
daemon/cli."""

from __future__ import annotations

import argparse
import sys

from daemon.cli import EXIT_USAGE
from daemon.cli.parser import config_path, fallback_language
from importers.messages import message

MIN_PASSWORD = 8  # characters: a console password guessed online is throttled, not slowed


def cmd_passwd(args: argparse.Namespace) -> int:
    """Print the hash of a console password, to paste into `[users.NAME]`."""
    from daemon.settings.passwords import hash_password

    language = fallback_language(config_path(args.config))
    # A name from bytes that are not UTF-8 (a surrogate escape of each): no config holds it.
    if args.user and _undecoded(args.user):
        print(message("cli.passwd.bad_name", language, name=repr(args.user)), file=sys.stderr)
        return EXIT_USAGE
    if args.stdin:
        try:
            password = sys.stdin.readline().rstrip("\r\n")
        except UnicodeDecodeError:  # stdin's errors are strict outside UTF-8 mode
            return _not_text(language)
    elif not sys.stdin.isatty():
        # getpass would read it from the pipe all the same, after a warning in English
        # that it may be echoed: say what to do instead.
        print(message("cli.passwd.no_terminal", language), file=sys.stderr)
        return EXIT_USAGE
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
    if _undecoded(password):
        return _not_text(language)
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


def _not_text(language: str) -> int:
    """A password of bytes not in the terminal's encoding refused: hashed, it was a
    traceback; and no browser sends such bytes, so it could never be typed at the login."""
    encoding = getattr(sys.stdin, "encoding", None) or "utf-8"
    print(message("cli.passwd.not_text", language, encoding=encoding), file=sys.stderr)
    return 1


def _undecoded(text: str) -> bool:
    """Whether `text` holds bytes its encoding could not read (each a surrogate escape)."""
    return any("\ud800" <= char <= "\udfff" for char in text)


def _control(char: str) -> bool:
    return char < " " or char == "\x7f"
