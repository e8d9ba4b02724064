"""Config problems as data: the key path, a catalog key and its values, said in either
language when shown.

Made by the model's validators (`Invalid`), loading (pydantic's errors) and the cross
checks; rendered by the CLI in the config's `report.language` and by the master's log
in English.
"""

from __future__ import annotations

import datetime as dt
import difflib
import errno
import json
import re
import socket
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from importers.messages import Words, message


@runtime_checkable
class Detail(Protocol):
    """A problem's value that renders itself (filenames.PatternError, dates.FormatError)."""

    def render(self, language: str) -> str: ...


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)  # a TOML key written without quotes

# The operating system's errors a user meets reading a config, saving a run's files or
# reaching the daemon, by the catalog's words: its own strerror is English only.
_OS_WORDS = {
    errno.EACCES: "os.denied",
    errno.EPERM: "os.denied",
    errno.ENOENT: "os.missing",
    errno.ENOSPC: "os.no_space",
    errno.EDQUOT: "os.no_space",
    errno.EROFS: "os.read_only",
    errno.EEXIST: "os.exists",
    errno.ENOTDIR: "os.not_folder",
    errno.EISDIR: "os.is_folder",
    errno.EIO: "os.io",
    errno.ENAMETOOLONG: "os.name_too_long",
    errno.ECONNREFUSED: "os.refused",
    errno.ETIMEDOUT: "os.timed_out",
    errno.EHOSTUNREACH: "os.unreachable",
    errno.ENETUNREACH: "os.unreachable",
    errno.ECONNRESET: "os.reset",
    errno.EADDRINUSE: "os.in_use",
    errno.EADDRNOTAVAIL: "os.not_here",
}

# getaddrinfo's failures that are the name server's, not the name's.
_RESOLVER_WORDS = {socket.EAI_AGAIN: "os.resolver_down", socket.EAI_FAIL: "os.resolver_down"}


@dataclass(frozen=True, slots=True)
class OsTrouble:
    """What went wrong with the system, as a Detail: `exc` is an OSError, or an error
    raised from one (httpx's ConnectError), named by its errno in the catalog's words;
    an errno the catalog has no words for keeps the system's, after its name."""

    exc: BaseException

    @property
    def words(self) -> Words | str:
        """The trouble as catalog words, or the system's text where it has no errno."""
        if (tls := tls_error_in(self.exc)) is not None:
            return tls_words(tls)
        cause = os_error_in(self.exc)
        if cause is None or cause.errno is None:
            return str(self.exc)
        if isinstance(cause, socket.gaierror):  # its errno is an EAI code, no errno
            return Words(_RESOLVER_WORDS.get(cause.errno, "os.no_such_host"))
        key = _OS_WORDS.get(cause.errno)
        if key is not None:
            return Words(key)
        name = errno.errorcode.get(cause.errno, str(cause.errno))
        return Words("os.other", {"name": name, "text": str(cause.strerror or cause)})

    def render(self, language: str) -> str:
        words = self.words
        return words if isinstance(words, str) else words.say(language)

    def __str__(self) -> str:
        return self.render("en")


def os_error_in(exc: BaseException | None) -> OSError | None:
    """`exc` if it is an OSError with an errno, else the first such one it was raised from
    (not TLS's: ssl.SSLError is an OSError whose errno is OpenSSL's, 1 for a certificate
    that does not verify, which read as EPERM, "permission denied")."""
    found = _in_chain(exc, _system_error)
    return found if isinstance(found, OSError) else None


def tls_error_in(exc: BaseException | None) -> BaseException | None:
    """TLS's error in `exc` or what it was raised from, if any."""
    return _in_chain(exc, _is_tls)


def _system_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno is not None and not _is_tls(exc)


def _in_chain(
    exc: BaseException | None, wanted: Callable[[BaseException], bool]
) -> BaseException | None:
    """`exc`, or the first error it was raised from (five deep at most), that is
    `wanted`."""
    seen = 0
    while exc is not None and seen < 5:
        if wanted(exc):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _is_tls(exc: BaseException) -> bool:
    import ssl

    return isinstance(exc, ssl.SSLError)


# OpenSSL's reasons, by the catalog's words: its own are English codes.
_TLS_WORDS = {
    "KEY_VALUES_MISMATCH": "tls.key_mismatch",
    "CERTIFICATE_VERIFY_FAILED": "tls.verify_failed",
    "NO_START_LINE": "tls.not_pem",
    "NO_CERTIFICATE_OR_CRL_FOUND": "tls.not_pem",
    "BAD_BASE64_DECODE": "tls.not_pem",
    "BAD_END_LINE": "tls.not_pem",
}


def tls_words(exc: BaseException) -> Words:
    """A TLS error in the catalog's words: a key that is not the certificate's, a file
    that is no PEM, a certificate that does not verify; another said by OpenSSL."""
    reason = str(getattr(exc, "reason", "") or "")
    key = _TLS_WORDS.get(reason)
    if key is None and "key is encrypted" in str(exc):  # settings/tls.py's _no_passphrase
        key = "tls.key_encrypted"
    if key is None and "PEM lib" in str(exc):  # a file of no certificate or key at all
        key = "tls.not_pem"
    if key is not None:
        return Words(key)
    return Words("tls.other", {"text": str(exc)})


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or worth a warning) in the config, at one key path."""

    where: str  # accounts.acme.ftp.interval, or the config file's path
    key: str  # the catalog key of what is wrong: config.not_one_of
    params: dict[str, object] = field(default_factory=dict)
    near: str | None = None  # the near miss to suggest: on_row_error, Asia/Tokyo

    def render(self, language: str = "en") -> str:
        # A value that says something itself (why a pattern or a date format is wrong)
        # is said in the same language.
        params = {
            k: v.render(language) if isinstance(v, Detail) else v for k, v in self.params.items()
        }
        text = message(self.key, language, **params)
        if self.near is not None:
            text += message("config.did_you_mean", language, near=self.near)
        return f"{self.where}: {text}" if self.where else text

    def __str__(self) -> str:
        # Logs stay English, like every other log line of the daemon.
        return self.render("en")


class Invalid(ValueError):
    """What a validator of the model raises: pydantic keeps it in the error's context,
    and loading turns it into a Problem at the key's path."""

    def __init__(self, key: str, near: str | None = None, **params: object) -> None:
        super().__init__(message(key, "en", **params))
        self.key = key
        self.near = near
        self.params = params


def shown(value: object) -> str:
    """A config value as the admin wrote it: strings quoted, booleans, dates, times,
    lists and tables as TOML spells them (18:00:00, not datetime.time(18, 0)),
    anything long cut short."""
    text = _toml(value, repr)
    return text if len(text) <= 60 else text[:57] + "..."


def _toml(value: object, string: Callable[[str], str]) -> str:
    """`value` in TOML; a string by `string`: quoted as repr() does at the top, where
    messages quote it so, and in TOML's double quotes inside a list or a table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return string(value)
    if isinstance(value, dt.date | dt.time):  # a datetime is a date
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item, _basic) for item in value) + "]"
    if isinstance(value, dict):
        pairs = [f"{_key(str(k))} = {_toml(v, _basic)}" for k, v in value.items()]
        return "{ " + ", ".join(pairs) + " }" if pairs else "{}"
    return repr(value)


def _basic(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's."""
    return json.dumps(text, ensure_ascii=False)


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _basic(key)


def not_one_of(value: object, choices: Sequence[str]) -> Invalid:
    """`value` refused as none of `choices`, naming the one it most likely misspells."""
    close = near(value, choices) if isinstance(value, str) else None
    return Invalid("config.not_one_of", close, value=shown(value), allowed=", ".join(choices))


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MEANT = {
    **dict.fromkeys(
        ("sjis", "shift_jis", "shift-jis", "shiftjis", "ms932", "windows-31j", "sjis-win"),
        "cp932",
    ),
    "utf8": "utf-8",
    **{
        said: day
        for kanji, english, day in zip(
            "月火水木金土日",
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
            _DAYS,
            strict=True,
        )
        for said in (kanji, kanji + "曜", kanji + "曜日", english)
    },
}


def near(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` most likely misspells (case ignored), or None: also when two
    are as likely (`mun`: mon or sun), where naming one would mislead."""
    by_fold = {choice.casefold(): choice for choice in choices}
    # Full-width letters (ａｃｔｉｖｅ) as an IME types them, and the names a Japanese
    # admin gives a choice in other words (sjis for cp932, 月 or monday for mon): no
    # spelling is near those.
    folded = unicodedata.normalize("NFKC", word).strip().casefold()
    for meant in (folded, _MEANT.get(folded)):
        if meant in by_fold:
            return by_fold[meant]
    found = difflib.get_close_matches(folded, by_fold, n=2, cutoff=0.6)
    if not found:
        return None
    if len(found) == 2 and _likeness(folded, found[0]) == _likeness(folded, found[1]):
        return None
    return by_fold[found[0]]


def _likeness(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()
