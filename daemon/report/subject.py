"""A mail's Subject written as RFC 2047 encoded words of our own, so that it decodes
back to exactly the text given.

The email package folds a long non-ASCII Subject into several encoded words and may put
a space of the text between two of them, as the folding whitespace: RFC 2047 has every
decoder drop the whitespace between adjacent encoded words, so `取引先 一覧 最新.csv`
read `取引先 一覧最新.csv`. Here each space after the first encoded word is inside one,
and the header is stored already folded, in lines short enough that the email package
writes it as it is.
"""

from __future__ import annotations

import base64
from email.message import EmailMessage

# Line length of the policies reports are written with (SMTP and default), "Subject: "
# included on the first line; an encoded word is at most 75 characters (RFC 2047).
_LINE = 78
_WORD = 75
_CHROME = len("=?utf-8?b??=")


def set_subject(msg: EmailMessage, text: str) -> None:
    """Set `msg`'s Subject to `text`, one line (outside text already cleaned): leading
    plain ASCII words stay readable as they are, the rest is encoded."""
    words = text.split(" ")
    plain = 0
    while plain < len(words) and _is_plain(words[plain]):
        plain += 1
    lines = ["Subject:"]
    for word in words[:plain]:
        if len(lines[-1]) + 1 + len(word) > _LINE:
            lines.append("")
        lines[-1] += " " + word
    if plain < len(words):
        rest = " ".join(words[plain:])
        # The space before the first encoded word is kept by decoders (it parts it from
        # plain text); every later one is inside a word.
        room = _LINE - len(lines[-1]) - 1
        if room < _CHROME + 4:
            lines.append("")
            room = _WORD
        first, *others = _encoded(rest, min(room, _WORD))
        lines[-1] += " " + first
        lines += [" " + word for word in others]
    del msg["Subject"]
    msg.set_raw("Subject", "\n".join(lines).removeprefix("Subject:").lstrip(" "))


def _is_plain(word: str) -> bool:
    """A word written as it is: printable ASCII, not empty (a run of spaces would be
    folded away), no `=?` a decoder could take for an encoded word, and short enough
    to follow "Subject: " on a line."""
    return (
        0 < len(word) <= _LINE - len("Subject: ")
        and word.isascii()
        and word.isprintable()
        and "=?" not in word
    )


def _encoded(text: str, first: int) -> list[str]:
    """`text` as UTF-8 B encoded words, whole characters in each: the first at most
    `first` characters long, the others at most `_WORD`."""
    words: list[str] = []
    chunk = ""
    room = first
    for ch in text:
        if chunk and _b64_len(chunk + ch) + _CHROME > room:
            words.append(_word(chunk))
            chunk, room = "", _WORD
        chunk += ch
    words.append(_word(chunk))
    return words


def _b64_len(text: str) -> int:
    return (len(text.encode("utf-8")) + 2) // 3 * 4


def _word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="
