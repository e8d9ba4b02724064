"""Runs as a person reads them: `renkei runs` fitted to the terminal, one run in full for
`renkei show`, the first row errors `renkei import` prints, and the `--since` a person
writes. Takes runs as the store gives them and returns lines; called by daemon/cli/.

The table is plain text, so a pipe or a file gets no colour codes or box drawing. At a
given width (`COLUMNS`, else the terminal's) the id, received time, state and counts
are never cut: the gap between columns narrows from two spaces to one, then the file
and account names give up their middle or their end to "…". Widths are counted in
terminal cells, so a Japanese heading takes the two cells a terminal gives it.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len, get_character_cell_size

from daemon.report.message import (
    channel_words,
    clean,
    errors_head,
    executor_words,
    in_words,
    local_time,
    mode_words,
    run_message,
    summary,
)
from daemon.store.runs import RunState, ended, public_run, send_name
from importers.errors import ERRORS_KEPT, RowError
from importers.messages import Words, message, said

if TYPE_CHECKING:
    from daemon.oneshot import Found

SHORT_ID = 6  # the random end of an id: unique among a screenful of runs but by bad luck
FLEXIBLE_FLOOR = 6  # a file or account cell is never squeezed below this (or its heading)
_SPAN = re.compile(r"(\d+)([mhdw])", re.ASCII)
_SPAN_UNIT = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SHOWN_CALLS = 20  # the requests of calls after an import `renkei show` lists
_TIMES = ("received", "started", "finished")  # a run's *_at, as `renkei show` lists them
# The moments a person may name: none of renkei's runs, files or mails is older than
# the POSIX epoch, and a year short of datetime's last leaves room for what the daemon
# adds to a moment (a window, a day, a week) without leaving datetime's range.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
YEARS = f"{EARLIEST.year}–{LATEST.year - 1}"  # as the messages name the range


# -- --since ---------------------------------------------------------------------------


def parse_since(text: str, timezone: str, now: dt.datetime) -> str | None:
    """`7d`, `12h`, `30m`, `2w` before `now`, or a date or time (`2024-05-16`,
    `2024-05-16T09:00`) in `timezone` unless it names its own offset; as UTC ISO 8601
    in received_at's own format, or None when it is none of these or outside YEARS."""
    span = _SPAN.fullmatch(text.strip())
    moment = _ago(now, span[2], int(span[1])) if span else parse_moment(text, timezone)
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def parse_moment(text: str, timezone: str) -> dt.datetime | None:
    """A date or time (`2024-05-16`, `2024-05-16T09:00`) in `timezone` unless it names
    its own offset; None when it is neither, or outside YEARS."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    # Compared as instants without converting: `0001-01-01` in Tokyo has no UTC day.
    return moment if EARLIEST <= moment < LATEST else None


def _ago(now: dt.datetime, unit: str, count: int) -> dt.datetime | None:
    """`count` units before `now`; None when that is before EARLIEST."""
    try:
        moment = now - dt.timedelta(**{_SPAN_UNIT[unit]: count})
    except OverflowError:  # more than a timedelta holds, or back past the year 1
        return None
    return moment if moment >= EARLIEST else None


# -- renkei runs -----------------------------------------------------------------------


def short_ids(ids: Sequence[str], least: int = SHORT_ID) -> dict[str, str]:
    """Each id by its shortest end (at least `least` characters) that no other of `ids`
    ends with: the random part first, then as much of the time as tells two apart."""
    length = least
    while len({i[-length:] for i in ids}) < len(set(ids)):
        length += 1
    return {i: i[-length:] for i in ids}


@dataclass(slots=True)
class Column:
    heading: str
    cells: list[str]
    right: bool = False  # numbers
    flexible: str = ""  # "end" or "middle": where a long cell gives way to "…"

    @property
    def natural(self) -> int:
        return max(cell_len(text) for text in [self.heading, *self.cells])

    @property
    def floor(self) -> int:
        if not self.flexible:
            return self.natural
        return min(self.natural, max(cell_len(self.heading), FLEXIBLE_FLOOR))


def runs_table(
    runs: Sequence[dict[str, Any]], language: str, timezone: str, width: int | None
) -> list[str]:
    """The runs as lines no longer than `width` (when it can be done without cutting a
    state or a count), each run's message on its own line under it."""
    if not runs:
        return [message("cli.runs.none", language)]
    zone = zoneinfo.ZoneInfo(timezone)
    this_year = dt.datetime.now(zone).year
    shorts = short_ids([r["id"] for r in runs])

    def column(name: str, cells: list[str], **how: Any) -> Column:
        return Column(message(f"cli.runs.{name}", language), cells, **how)

    columns = [
        column("id", [shorts[r["id"]] for r in runs]),
        column("received", [_received(r["received_at"], zone, this_year) for r in runs]),
        column("account", [r["account"] for r in runs], flexible="end"),
        column("channel", [channel_words(r["channel"], language) for r in runs]),
        column("file", [r["filename"] or "-" for r in runs], flexible="middle"),
        column("state", [state_words(r, language) for r in runs]),
        *(
            column(name, [str(r[f"rows_{field}"]) for r in runs], right=True)
            for name, field in (("rows", "total"), (_done(runs), "imported"), ("failed", "failed"))
        ),
    ]
    widths, gap = _layout(columns, width)
    lines = [_line([c.heading for c in columns], columns, widths, gap)]
    indent = " " * (widths[0] + gap)
    for index, run in enumerate(runs):
        lines.append(_line([c.cells[index] for c in columns], columns, widths, gap))
        note = _note(run, language)
        room = None if width is None else max(width - len(indent), 20)
        lines += [indent + part for part in wrap(note, room)] if note else []
    return lines


def _done(runs: Sequence[dict[str, Any]]) -> str:
    """The heading of the rows a run got through: a send's count is of rows sent."""
    return "done" if any(r["direction"] == "send" for r in runs) else "imported"


def _received(stamp: str, zone: zoneinfo.ZoneInfo, this_year: int) -> str:
    moment = dt.datetime.fromisoformat(stamp).astimezone(zone)
    return moment.strftime("%m-%d %H:%M" if moment.year == this_year else "%Y-%m-%d")


def _note(run: dict[str, Any], language: str) -> str:
    """The run's message; a dry run says it is one even when its message does not."""
    text = run_message(run, language)
    if run["dry_run"] and not text.startswith(message("run.dry_run", language)):
        return f"{message('cli.dry_run', language).strip()} {text}".strip()
    return text


def _layout(columns: Sequence[Column], width: int | None) -> tuple[list[int], int]:
    """Column widths and the gap between columns that fit `width` best."""
    widths = [c.natural for c in columns]
    for gap in (2, 1):
        if width is None or sum(widths) + gap * (len(columns) - 1) <= width:
            return widths, gap
    excess = sum(widths) + len(columns) - 1 - width
    # The widest flexible column gives a cell at a time, so two long ones end alike.
    while excess > 0:
        giving = [i for i, c in enumerate(columns) if widths[i] > c.floor]
        if not giving:
            break  # a narrow terminal: overflow rather than cut a state or a count
        widest = max(giving, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    return widths, 1


def _line(cells: Sequence[str], columns: Sequence[Column], widths: Sequence[int], gap: int) -> str:
    parts = []
    for text, c, w in zip(cells, columns, widths, strict=True):
        text = fit(text, w, c.flexible or "end")
        pad = " " * (w - cell_len(text))
        parts.append(pad + text if c.right else text + pad)
    return (" " * gap).join(parts).rstrip()


def fit(text: str, width: int, cut: str = "end") -> str:
    """`text` in at most `width` cells: cut at its end, or in its middle (a file name
    keeps its date and extension), with "…" where the cut is."""
    if cell_len(text) <= width:
        return text
    if cut == "middle":
        tail = _take(text[::-1], (width - 1) // 2)[::-1]
        head = _take(text, width - 1 - cell_len(tail))
        return head + "…" + tail
    return _take(text, width - 1) + "…"


def _take(text: str, cells: int) -> str:
    """The longest start of `text` that fits in `cells`."""
    used = 0
    for index, char in enumerate(text):
        used += get_character_cell_size(char)
        if used > cells:
            return text[:index]
    return text


def wrap(text: str, width: int | None) -> list[str]:
    """`text` in lines of at most `width` cells, broken at a space when the line has one
    (English), else anywhere (Japanese needs no space to break)."""
    if width is None:
        return text.splitlines() or [""]
    lines = []
    for paragraph in text.splitlines() or [""]:
        line, used = "", 0
        for char in paragraph:
            size = get_character_cell_size(char)
            if used + size > width and line:
                head, space, tail = line.rpartition(" ")
                lines.append(head if space and head else line)
                line = tail if space and head else ""
                used = cell_len(line)
            if char == " " and not line:
                continue  # a break at a space: the next line starts at the word
            line += char
            used += size
        lines.append(line)
    return lines


# -- renkei show, renkei import --------------------------------------------------------


def error_lines(
    run: dict[str, Any], errors: Sequence[RowError], count: int, language: str
) -> list[str]:
    """The first row errors as the report mail lists them, and how many more there are.
    A file that failed as a whole has one error, its message: said once, not twice."""
    if not errors or (count == 1 and errors[0].message == run["message"]):
        return []
    lines = [errors_head(len(errors), count, language)]
    lines += [f"  {said(e.said, e.message, language)}" for e in errors]
    if count > len(errors):
        # Past the errors the store keeps, how many more is a floor (errors_head).
        more = "cli.errors.more_cut" if count >= ERRORS_KEPT else "cli.errors.more"
        lines.append("  " + message(more, language, n=count - len(errors)))
    return lines


def show_lines(found: Found, language: str, timezone: str) -> list[str]:
    """`renkei show`: the run, its file, its first row errors and its error CSV."""
    assert found.run is not None
    if found.run["direction"] == "send":
        return send_lines(found.run, found.requests, language, timezone, found.report)
    lines = [*run_lines(found.run, language, timezone), *report_lines(found.report, language)]
    if found.run["undo_of"]:
        # An undo read no file and wrote no rows of its own: its message says what it
        # deleted and restored; a mode, counts and "file not kept" said it was an import.
        return [*lines, *call_lines(found.requests, language)]
    lines += ["", *file_lines(found.run, language, found.kept_file, found.elsewhere)]
    problems = problem_lines(found, language)
    lines = [*lines, "", *problems] if problems else lines
    return [*lines, *call_lines(found.requests, language)]


def call_lines(requests: Sequence[dict[str, Any]], language: str) -> list[str]:
    """The requests of the calls that followed an import, the first SHOWN_CALLS of them
    (a call per row makes one a row), as the console and the API list them."""
    if not requests:
        return []
    lines = request_lines(requests[:SHOWN_CALLS], language, named=True)
    lines[1] = message("cli.show.calls", language)
    if len(requests) > SHOWN_CALLS:
        more = message("cli.errors.more", language, n=len(requests) - SHOWN_CALLS)
        lines.append(f"  {more}")
    return lines


def show_json(found: Found) -> dict[str, Any]:
    """`renkei show --json`: the run as `renkei runs --json` gives it, with its file and
    its first row errors."""
    assert found.run is not None
    run = found.run
    paths = {"kept_file": found.kept_file, "error_csv": found.error_csv}
    shown = {
        **public_run(run),
        "size": run["size"],
        "sha256": run["sha256"],
        **{name: str(path) if path else None for name, path in paths.items()},
        "errors": [
            {"line": e.line, "column": e.column, "value": e.value, "message": e.message}
            for e in found.errors
        ],
    }
    # A send's requests, or the calls after an import, as the API shows them.
    if run["direction"] == "send" or found.requests:
        shown["requests"] = found.requests
    # The answer as stored; its words are for saying it in a language.
    report = found.report
    shown["report"] = {k: v for k, v in report.items() if k != "said"} if report else None
    return shown


def problem_lines(found: Found, language: str) -> list[str]:
    """A run's first row errors, and the error CSV that holds them all."""
    assert found.run is not None
    lines = error_lines(found.run, found.errors, found.error_count, language)
    if found.error_csv is not None:
        lines.append(_field(message("cli.show.error_csv", language), found.error_csv))
    return lines


def file_lines(
    run: dict[str, Any], language: str, kept: Path | None, elsewhere: str = ""
) -> list[str]:
    """The file as received: name, size, sha256, and where it is kept, if it is."""
    # NULL: recorded before runs kept the size; no name: no file came (a mail without
    # a CSV, an undo), whose 0 is no file's size.
    # An ignored run's file was thrown away unread: its 0 is no size either.
    ignored = run["state"] == RunState.IGNORED
    known = run["size"] is not None and bool(run["filename"]) and not ignored
    size = message("cli.show.bytes", language, n=f"{run['size']:,}") if known else "-"
    lines = [
        _field(message("report.field.filename", language), run["filename"] or "-"),
        _field(message("cli.show.size", language), size),
        _field(message("cli.show.sha256", language), run["sha256"] or "-"),
    ]
    if kept is not None:
        lines.append(_field(message("cli.show.kept", language), kept))
    else:
        lines.append(message(not_kept_key(run, elsewhere), language, instance=elsewhere))
    return lines


def not_kept_key(run: Mapping[str, Any], elsewhere: str = "") -> str:
    """Why a run's file is not kept, as the catalog says it: not yet (the run waits or
    runs: "past retention" blamed the sweep), thrown away (a stopped account's), kept
    by the instance of a shared store that imported it (`elsewhere`: its name), or
    gone (swept, or no file came). Its words take `instance`."""
    if run.get("direction") == "send" or run.get("undo_of"):
        return "cli.show.no_file"  # it received none: "past retention" blamed the sweep
    if not ended(run):
        return "cli.show.not_kept_yet"
    if run["state"] == RunState.IGNORED:
        return "cli.show.not_kept_ignored"
    if elsewhere:
        return "cli.show.kept_elsewhere"
    return "cli.show.not_kept"


def run_lines(run: dict[str, Any], language: str, timezone: str) -> list[str]:
    """The run's own fields, times in `timezone`, its counts and result as the report
    mail says them."""
    zone = zoneinfo.ZoneInfo(timezone)

    def field(name: str, value: object) -> str:
        return _field(message(f"report.field.{name}", language), value)

    mode = mode_words(run, language)
    mode += message("cli.dry_run", language) if run["dry_run"] else ""
    counts = {"total": run["rows_total"], "imported": run["rows_imported"]}
    failed = run["rows_failed"]
    imported = not run["undo_of"]  # an undo has no file, mode or counts of its own
    lines = [
        field("run", run["id"]),
        field("account", run["account"]),
        field("channel", channel_words(run["channel"], language)),
        field("sender", run["sender"] or "-"),
        _field(message("cli.show.state", language), state_words(run, language)),
        *([field("mode", mode), field("encoding", run["encoding"] or "-")] if imported else []),
        *(field(name, local_time(run[f"{name}_at"], zone)) for name in _TIMES),
    ]
    if imported:
        lines += [
            field("counts", message("report.counts", language, failed=failed, **counts)),
            field("result", summary(run, language)),
        ]
    if run["message"]:
        lines.append(field("message", run_message(run, language)))
    lines += _linked_runs(run, language)
    lines.append(_report_field(run, language))
    return lines


def report_lines(report: dict[str, Any] | None, language: str) -> list[str]:
    """The run's report mail as it went out, as its page in the console shows it: to
    whom, how many tries, and what the relay last said."""
    if report is None:
        return []
    lines = [
        _field(message("cli.show.report_to", language), ", ".join(report["recipients"])),
        _field(message("cli.show.report_tries", language), report["attempts"]),
    ]
    if report["last_answer"]:
        answer = said(report.get("said"), report["last_answer"], language)
        lines.append(_field(message("cli.show.relay_said", language), answer))
    return lines


def _report_field(run: dict[str, Any], language: str) -> str:
    """How the run's report mail stands, in the console's words for it."""
    state = run["report_state"]
    words = in_words(f"console.report_state.{state}", language, state)
    return _field(message("cli.show.report", language), words)


def _linked_runs(run: dict[str, Any], language: str) -> list[str]:
    """The runs this one retried, undid, or was undone by."""
    linked = ("retry_of", "undo_of", "undone_by")
    return [_field(message(f"cli.show.{key}", language), run[key]) for key in linked if run[key]]


def send_lines(
    run: dict[str, Any],
    requests: Sequence[dict[str, Any]],
    language: str,
    timezone: str,
    report: dict[str, Any] | None = None,
) -> list[str]:
    """`renkei show` of a send: which send, who started it, what went in which file,
    rows sent, how it ended, and each request with its attempts and last answer, in
    the words of the send's report mail."""
    zone = zoneinfo.ZoneInfo(timezone)

    def field(name: str, value: object) -> str:
        return _field(message(f"send.field.{name}", language), value)

    sent = {"sent": run["rows_imported"], "total": run["rows_total"]}
    lines = [
        field("run", run["id"]),
        field("name", send_name(run) or "-"),
        _field(message("report.field.account", language), run["account"] or "-"),
        field("executor", executor_words(run["sender"], language) or "-"),
        _field(message("cli.show.state", language), state_words(run, language)),
        field("layout", run["layout"] or "-"),
        field("file", run["filename"] or "-"),
        _field(message("report.field.encoding", language), run["encoding"] or "-"),
        field("started", local_time(run["started_at"] or run["received_at"], zone)),
        field("finished", local_time(run["finished_at"], zone)),
        field("counts", message("send.counts", language, **sent)),
    ]
    if run["message"]:
        lines.append(field("message", run_message(run, language)))
    if failed := last_failure(requests):
        lines.append(_field(message("cli.show.last_error", language), failed))
    lines.append(_report_field(run, language))
    # Its report mail as an import's is said: to whom, how many tries, the relay's word.
    lines += report_lines(report, language)
    return [*lines, *request_lines(requests, language)]


def state_words(run: Mapping[str, Any], language: str) -> str:
    """A run's state as the console says it (`renkei runs --state` and --json take the
    state itself)."""
    return in_words(state_of(run).key, language, run["state"])


def state_of(run: Mapping[str, Any]) -> Words:
    """A run's state as words, for a sentence that names it (`(状態 待機中)`, not the
    code `queued`); a send stopped part-way is never resumed, unlike an import."""
    if run.get("direction") == "send" and run["state"] == RunState.ABORTED:
        return Words("console.state.send.aborted")
    return Words(f"console.state.{run['state']}")


def request_lines(
    requests: Sequence[dict[str, Any]], language: str, named: bool = False
) -> list[str]:
    """Each request a send made: where to, what it carried, its attempts and answer;
    `named`, each led by the name of the call it is of (several calls follow an
    import, each numbering its own requests from 1)."""
    if not requests:
        return []
    lines = ["", message("send.requests", language)]
    for r in requests:
        status = "-" if r["status"] is None else r["status"]
        lines.append(
            "  "
            + (f"{r['name']} " if named and r.get("name") else "")
            + message(
                "cli.show.request",
                language,
                seq=r["seq"],
                method=r["method"],
                url=r["url"],
                rows=r["rows"],
                bytes=r["bytes"],
                status=status,
                attempts=r["attempts"],
            )
        )
        if r["answer"] and r["state"] != "done":  # the receiver's words: no escape codes
            lines.append(f"     {clean(r['answer'])[:300]}")
    return lines


def last_failure(requests: Sequence[dict[str, Any]]) -> str:
    """The last answer of the request that stopped a send: its status and body."""
    failed = [r for r in requests if r["state"] == "failed"]
    if not failed:
        return ""
    r = failed[-1]
    status = "" if r["status"] is None else str(r["status"])
    return clean(f"{status} {r['answer'] or ''}")[:300]


def _field(label: str, value: object) -> str:
    return f"{label}: {value}"
