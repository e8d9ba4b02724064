"""Decoding: picks a file's encoding and locates undecodable bytes by line.

`auto` takes UTF-8 (with or without BOM) when every byte is valid UTF-8 (or all but a
last character cut short), else CP932 (Shift_JIS with the NEC and IBM extensions). A
file no CSV can be (a workbook, a zip, UTF-16) is told by its first bytes and refused
saying what it is. Called by the reader before parsing.
"""

from __future__ import annotations

import codecs
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from importers.errors import PermanentProblem
from importers.workbook import OLE

CHUNK = 1 << 20
_CODECS = {"cp932": "cp932", "utf-8": "utf-8", "utf-8-sig": "utf-8-sig"}
# Each as a partner knows it: `utf-8-sig` is Python's name for UTF-8 with its BOM.
_SHOWN = {"cp932": "Shift_JIS(CP932)", "utf-8": "UTF-8", "utf-8-sig": "UTF-8"}
_ZIP = b"PK\x03\x04"  # an .xlsx is a zip
_SAMPLE = 4096  # the bytes UTF-16 without a BOM is told by
_EOF_MARK = b"\x1a"
# Japanese text (kana, CJK ideographs, full-width forms) decoded as UTF-8 before a bad
# byte: this many characters make a file UTF-8 with a fault, not CP932. Counted only in
# runs of two or more: CP932 text read as UTF-8 fails at its first kana or first-level
# kanji (a lone continuation byte), and makes such a character by chance only from a
# second-level kanji's bytes with the lead byte of the character after it, whose trail
# byte then reads as ASCII (莉子 as 从q) or ends it; two side by side take three
# characters of narrow byte ranges in a row (random CP932 text never reached eight).
_JAPANESE = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]{2,}")
_UTF8_EVIDENCE = 8
# How far past the first line UTF-8 cannot read a file is read as UTF-8, to tell one
# whose rows were appended in UTF-8 below a Shift_JIS header. CP932 text stops it at
# its first kana or first-level kanji: a real Shift_JIS file costs a few bytes.
_MIXED_WINDOW = 64 * 1024
# ISO-2022-JP (JIS) switches character sets by escape sequences in 7-bit text, which
# reads as ASCII: imported as it is, its Japanese would be escape codes and letters.
_JIS_ESCAPES = (b"\x1b$B", b"\x1b$@", b"\x1b$(D", b"\x1b(I", b"\x1b(J")
# EUC-JP (older Unix and accounting systems) writes every Japanese character as bytes
# 0xA1-0xFE, which CP932 reads too: kana as pairs of half-width katakana (テスト as
# ･ﾆ･ｹ･ﾈ), kanji as other kanji. Imported as CP932 it was mojibake, said nowhere.
# CP932's own Japanese text has bytes 0x81-0xA0 (the lead bytes of its kana and most
# kanji, and trail bytes) that EUC-JP never has but as its 0x8E and 0x8F prefixes.
_NOT_EUC_JP = re.compile(b"[\x80-\x8d\x90-\xa0]")
# Half-width katakana in Shift_JIS are single bytes 0xA1-0xDF, and some pairs of them
# are UTF-8 too (ﾅｶ as Ŷ, ﾄｳ as ĳ): a file of kana names and ASCII alone, as bank
# and legacy exports write, read as valid UTF-8 and was imported as Latin and Greek
# letters. UTF-8's own text beside such letters is Japanese (three bytes a character)
# or accented words (café: the letter beside ASCII ones).
_WIDE = re.compile("[\u0800-\U0010ffff]")
_KANA_BYTES = re.compile(b"[\x00-\x7f\xa1-\xdf]*")
_NON_ASCII_RUN = re.compile("[^\x00-\x7f]+")
_CELL_EDGE = frozenset(',"\t\r\n ')
_KANA = re.compile("[\u3041-\u30fe]")


@dataclass(frozen=True, slots=True)
class Sniffed:
    encoding: str  # cp932 | utf-8 | utf-8-sig: also the codec name
    size: int
    newlines: int  # physical line breaks: an upper bound on the number of records
    ends_with_newline: bool
    # The line of the file's first NUL byte (0: none): CsvFile.open refuses the file,
    # once its encoding is known, so that its error CSV is in that encoding.
    nul_line: int = 0
    # DOS end-of-file marks (Ctrl-Z, 0x1A) after the text, not read: `size` is the
    # text's. Legacy accounting and COBOL tools still end files with one.
    eof_marks: int = 0


def sniff(path: Path, declared: str, error_copy: bool = False) -> Sniffed:
    """Read the file once: pick the encoding, count line breaks, find a NUL byte, and
    refuse a file no CSV in CP932 or UTF-8 can be (UTF-16). An `error_copy` (a
    corrected error CSV sent back) that is UTF-8 with a BOM is read as such whatever
    the account declares: a workbook's error CSV is written so, and under `cp932` its
    corrected copy was refused as no Shift_JIS."""
    utf8 = codecs.getincrementaldecoder("utf-8")()
    ascii_only = True
    utf8_text = False  # a character beyond ASCII decoded as UTF-8
    wide_utf8 = False  # a character of three bytes or more decoded as UTF-8
    japanese = 0  # Japanese characters decoded as UTF-8, counted up to _UTF8_EVIDENCE
    faulty_utf8 = False  # UTF-8 Japanese text, then bytes UTF-8 cannot have
    jis = False
    size = newlines = nul_line = 0
    head = b""
    sample = b""  # the first bytes, for telling EUC-JP
    last = b""
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            if not head:
                head, sample = chunk[:3], chunk[:_MIXED_WINDOW]
                _refuse_binary(path, chunk)
            # Neither CP932 nor UTF-8 has the byte 0 inside a character: a NUL is the
            # file's own, and PostgreSQL refuses it in text (SQLite would keep it).
            if not nul_line and (at := chunk.find(b"\0")) >= 0:
                nul_line = line_at(path, size + at)
            size += len(chunk)
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
            ascii_only = ascii_only and chunk.isascii()
            if ascii_only and not jis:
                jis = any(escape in chunk for escape in _JIS_ESCAPES)
            if utf8 is not None:
                try:
                    text = utf8.decode(chunk)
                except UnicodeDecodeError as exc:
                    utf8 = None
                    text = exc.object[: max(exc.start, 0)].decode(errors="ignore")
                    japanese = _japanese(text, japanese)
                    faulty_utf8 = japanese >= _UTF8_EVIDENCE
                    # The first chunk; a file said to be CP932 is taken as it is said.
                    if not faulty_utf8 and size == len(chunk) and declared != "cp932":
                        _refuse_mixed(chunk, max(exc.start, 0))
                else:
                    utf8_text = utf8_text or not text.isascii()
                    wide_utf8 = wide_utf8 or (utf8_text and bool(_WIDE.search(text)))
                    if utf8_text and japanese < _UTF8_EVIDENCE:
                        japanese = _japanese(text, japanese)
    if jis and ascii_only:
        raise PermanentProblem("file.iso2022jp")
    if utf8 is not None:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            # UTF-8 text cut inside its last character: read as UTF-8, it fails as
            # truncated on its last line, where taken for CP932 it failed on a byte
            # of its first Japanese word. Without such text before the cut, the bytes
            # may as well be CP932's, where they are a character.
            if not utf8_text:
                utf8 = None
    two_byte_only = utf8 is not None and utf8_text and not wide_utf8
    if declared == "auto" and two_byte_only and _kana_not_utf8(sample):
        utf8 = None  # Shift_JIS's half-width katakana: read as CP932
    bom = head.startswith(codecs.BOM_UTF8)
    if error_copy and declared == "cp932" and utf8 is not None and bom:
        declared = "auto"
    if declared == "cp932" and utf8 is not None and not ascii_only:
        # Japanese text that is valid UTF-8 is all but never Shift_JIS: decoding it as
        # CP932 would import mojibake or fail on a misleading byte.
        raise PermanentProblem("file.utf8_not_cp932")
    # Read as UTF-8, the file fails on its line with the bad bytes (decode_problem:
    # "UTF-8 with a fault"), where taken for CP932 its UTF-8 rows became mojibake.
    valid_utf8 = utf8 is not None or (faulty_utf8 and declared == "auto")
    encoding = _choose(declared, valid_utf8, head.startswith(codecs.BOM_UTF8))
    if declared == "auto" and encoding == "cp932" and not ascii_only and _looks_euc_jp(sample):
        raise PermanentProblem("file.euc_jp")
    marks = 0
    if last in (_EOF_MARK, b"\n", b"\r"):
        last, marks = _eof_marks(path, size, last)
    ends = last in (b"\n", b"\r")
    return Sniffed(encoding, size - marks, newlines, ends, nul_line, marks)


def _kana_not_utf8(sample: bytes) -> bool:
    """Whether `sample`, valid UTF-8 of two-byte characters alone, is Shift_JIS's
    half-width katakana: every byte beyond ASCII one of theirs, and every run of them a
    cell's text of its own, between commas, quotes, spaces or line ends (UTF-8's é, ü
    sit inside a word: café, Müller; ± and ° beside a number)."""
    if not _KANA_BYTES.fullmatch(sample):
        return False
    text = sample.decode("utf-8", errors="ignore")
    for run in _NON_ASCII_RUN.finditer(text):
        before = text[run.start() - 1] if run.start() else ","
        after = text[run.end()] if run.end() < len(text) else ","
        if before not in _CELL_EDGE or after not in _CELL_EDGE:
            return False
    return True


def _looks_euc_jp(sample: bytes) -> bool:
    """Whether `sample`, no UTF-8, is EUC-JP rather than CP932: no byte of CP932's own
    Japanese text, all of it EUC-JP, and either a byte from 0xE0 up (CP932 writes only
    its rarer kanji with such a lead byte, and never without one of 0x81-0x9F beside)
    or kana enough. A CP932 file of half-width katakana alone reads as EUC-JP kanji by
    chance; as its hiragana and katakana only where a rarely used ､ or ･ comes first."""
    if _NOT_EUC_JP.search(sample):
        return False
    try:
        text = codecs.getincrementaldecoder("euc_jp")().decode(sample)
    except UnicodeDecodeError:
        return False
    if max(sample) >= 0xE0:
        return True
    kana = len(_KANA.findall(text))
    return kana >= 2 and kana * 5 >= sum(1 for ch in text if ord(ch) > 0x7F)


def _japanese(text: str, counted: int) -> int:
    """`counted` plus the Japanese characters of `text`, counted no further than
    _UTF8_EVIDENCE (a large UTF-8 file is not searched through)."""
    for run in _JAPANESE.finditer(text):
        counted += len(run.group())
        if counted >= _UTF8_EVIDENCE:
            break
    return counted


def _refuse_mixed(chunk: bytes, bad: int) -> None:
    """Refuse a file whose line holding the first bytes UTF-8 cannot have (`bad`) is
    Shift_JIS and whose next lines are UTF-8 Japanese text: a header saved from Excel
    with rows a script appended. Read as CP932, those rows were imported as mojibake
    (東京 as 譚ｱ莠ｬ), since CP932 reads UTF-8's bytes too."""
    start = max(chunk.rfind(b"\n", 0, bad), chunk.rfind(b"\r", 0, bad)) + 1
    ends = [at for at in (chunk.find(b"\r", bad), chunk.find(b"\n", bad)) if at >= 0]
    if not ends:
        return
    end = min(ends)
    try:
        chunk[start:end].decode("cp932")
    except UnicodeDecodeError:
        return  # no Shift_JIS line either: its bad bytes are said as they are
    after = end + 2 if chunk[end : end + 2] == b"\r\n" else end + 1
    window = chunk[after : after + _MIXED_WINDOW]
    try:
        text = window.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = window[: exc.start].decode("utf-8")
    if _japanese(text, 0) >= _UTF8_EVIDENCE:
        line = line_ends(chunk[:bad]) + 1
        raise PermanentProblem("file.mixed_encodings", line=line, utf8_line=line + 1)


def _eof_marks(path: Path, size: int, last: bytes) -> tuple[bytes, int]:
    """The last byte before the Ctrl-Z marks a file ends in, and how many bytes they
    and what follows them are (CP/M-era tools pad the last block with them; some
    write a line break after the mark): (`last`, 0) when it ends in none."""
    with open(path, "rb") as f:
        f.seek(max(0, size - _SAMPLE))
        tail = f.read()
    marked = tail if last == _EOF_MARK else tail.rstrip(b"\r\n")
    if not marked.endswith(_EOF_MARK):
        return last, 0
    text = marked.rstrip(_EOF_MARK)
    return text[-1:], len(tail) - len(text)


def line_ends(data: bytes, after_cr: bool = False) -> int:
    """Line ends as the csv module counts them (CRLF, LF or CR each end one line);
    `after_cr`: the bytes before `data` ended in a CR (a LF first is its CRLF's)."""
    ends = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    return ends - 1 if after_cr and data.startswith(b"\n") else ends


def line_at(path: Path, offset: int) -> int:
    """The line (from 1) that the byte at `offset` of `path` sits on."""
    lines, after_cr = 1, False
    with open(path, "rb") as f:
        while offset > 0 and (chunk := f.read(min(CHUNK, offset))):
            lines += line_ends(chunk, after_cr)
            after_cr = chunk.endswith(b"\r")
            offset -= len(chunk)
    return lines


def _refuse_binary(path: Path, first: bytes) -> None:
    """Refuse a file whose first bytes say it is no CSV, saying what it is: else its
    first NUL byte would be all a partner is told."""
    if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text": a NUL in every other byte.
        raise PermanentProblem("file.utf16")
    if first.startswith(OLE):
        raise PermanentProblem("file.is_workbook", format="xls")
    if first.startswith(_ZIP):
        if _is_xlsx(path):
            raise PermanentProblem("file.is_workbook", format="xlsx")
        raise PermanentProblem("file.zip")
    if _utf16_without_bom(first[:_SAMPLE]):
        raise PermanentProblem("file.utf16_no_bom")


def _utf16_without_bom(sample: bytes) -> bool:
    """UTF-16 text without its BOM: a NUL as the other byte of each ASCII character
    (digits, commas, line breaks), all on the same side, where CP932 and UTF-8 text
    has none; a NUL or two of a CSV's own do not read as UTF-16 with its commas."""
    if sample.count(0) < 2:
        return False
    sample = sample[: len(sample) // 2 * 2]
    high, low = sample[0::2].count(0), sample[1::2].count(0)
    if high and low:
        return False
    decoder = codecs.getincrementaldecoder("utf-16-be" if high else "utf-16-le")()
    try:
        text = decoder.decode(sample)
    except UnicodeDecodeError:
        return False
    return "\0" not in text and ("," in text or "\n" in text)


def _is_xlsx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.startswith("xl/") for name in archive.namelist())
    except (zipfile.BadZipFile, EOFError, NotImplementedError, ValueError):
        return True  # a cut workbook, most likely: said as one


def _choose(declared: str, valid_utf8: bool, has_bom: bool) -> str:
    if declared == "cp932" or (declared == "auto" and not valid_utf8):
        return "cp932"
    return "utf-8-sig" if has_bom else "utf-8"


def decode_problem(path: Path, encoding: str) -> PermanentProblem:
    """Find the first undecodable bytes of `path` and say on which line they sit; of
    a file sent as UTF-8 whose Japanese text is Shift_JIS throughout, also that it
    looks like Shift_JIS (one with UTF-8 text before its bad bytes is UTF-8 with a
    fault)."""
    decoder = codecs.getincrementaldecoder(_CODECS[encoding])()
    offset = 0
    text_before = False  # a character beyond ASCII before the bad bytes
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            try:
                text_before = not decoder.decode(chunk, final=not chunk).isascii() or text_before
            except UnicodeDecodeError as exc:
                problem = _problem(exc, path, chunk, offset, encoding, at_eof=not chunk)
                text_before = text_before or not exc.object[: max(exc.start, 0)].isascii()
                if (
                    problem.key == "file.bad_bytes"
                    and encoding != "cp932"
                    and not text_before
                    and _is_cp932(path)
                ):
                    return PermanentProblem("file.bad_bytes_cp932", problem.line, **problem.params)
                return problem
            if not chunk:
                break
            offset += len(chunk)
    # Decoding succeeded this time; the reader's own error came from elsewhere.
    return PermanentProblem(
        "file.bad_bytes", line=1, encoding=_SHOWN.get(encoding, encoding), hex="?"
    )


def _is_cp932(path: Path) -> bool:
    """Whether the file is Japanese text in CP932 throughout (asked only of a file
    that is no UTF-8)."""
    decoder = codecs.getincrementaldecoder("cp932")()
    with open(path, "rb") as f:
        try:
            while chunk := f.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _problem(
    exc: UnicodeDecodeError,
    path: Path,
    chunk: bytes,
    offset: int,
    encoding: str,
    at_eof: bool,
) -> PermanentProblem:
    # The decoder may report bytes it buffered from the previous chunk at a negative
    # start; clamp so the line count stays right.
    start = max(exc.start, 0)
    line = line_at(path, offset + start)
    if at_eof or (exc.reason.startswith("unexpected end") and exc.end >= len(chunk)):
        return PermanentProblem("file.truncated", line=line)
    bad = exc.object[exc.start : exc.end]
    shown = _SHOWN.get(encoding, encoding)
    return PermanentProblem("file.bad_bytes", line=line, encoding=shown, hex=bad.hex(" "))
