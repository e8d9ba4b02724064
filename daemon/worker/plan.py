"""The import plan: what one run does, decided before a row is read.

The account's defaults, overridden by what the delivery's options chose at the door
(an API request's parameters and request shape travel there, so nothing after the
spool asks which channel a file came by), and the column specs the reader converts
by, choices widened by the values earlier imports created. Used by the pipeline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from daemon.settings import Account, Layout, Settings
from daemon.settings.model import AccountReport
from daemon.store.base import Store
from daemon.store.keyed import KEYED
from daemon.store.runs import RunState
from importers.errors import CellError
from importers.layouts import ColumnSpec, converter, listed_spelling
from importers.reader import ImportSpec
from importers.workbook import is_workbook

Mode = Literal["replace_file", "insert", "upsert", "delete", "set"]


@dataclass(frozen=True, slots=True)
class Plan:
    """One import's choices: the account's defaults, overridden by the delivery."""

    layout: str
    mode: Mode = "replace_file"
    on_duplicate: Literal["skip", "update"] = "update"
    blank: Literal["keep", "overwrite"] = "overwrite"
    set_values: dict[str, str] = field(default_factory=dict)
    on_unknown: Literal["error", "create"] = "error"
    member_key: str | None = None
    on_row_error: Literal["reject", "skip"] = "reject"
    report: AccountReport = "always"
    encoding: Literal["auto", "cp932", "utf-8"] = "auto"
    header: bool = True
    dry_run: bool = False

    @property
    def keyed(self) -> bool:
        return self.mode in KEYED

    @property
    def keys_only(self) -> bool:
        """delete and set read only the key: a file of keys alone will do, and any
        other column the header names is read past."""
        return self.header and self.mode in ("delete", "set")


_CHOSEN = [f.name for f in fields(Plan)]


def plan_for(account: Account, options: dict[str, Any]) -> Plan:
    """The account's defaults, overridden by what the delivery's options chose."""
    chosen = {name: getattr(account, name) for name in _CHOSEN if hasattr(account, name)}
    chosen["set_values"] = dict(account.set_values)
    chosen.update({k: v for k, v in options.items() if k in _CHOSEN and v is not None})
    return Plan(**chosen)


def fixed_values(layout: Layout, set_values: Mapping[str, str]) -> dict[str, str | None]:
    """The values a set writes, each as an imported cell of that value is stored, so
    that a search or a later import finds the row by it: converted by its column's
    type (`"1,200"` sets 1200, `"2024/5/6"` 2024-05-06), a choice column's as its list
    writes it (`Ａ` sets `A`), and an empty one NULL but in a text column. `renkei
    check` refuses a value its column refuses; one that gets here anyway is written
    as given."""
    columns = {c.name: c for c in layout.columns}
    fixed: dict[str, str | None] = {}
    for name, value in set_values.items():
        column = columns.get(name)
        fixed[name] = value if column is None else _stored(column, value)
    return fixed


def _stored(column: Any, value: str) -> str | None:
    if column.type == "choice":
        return listed_spelling(column.values or [], value) if value.strip() else None
    if column.type == "text":
        return value
    if not value.strip():
        return None
    try:
        return str(converter(ColumnSpec.of(column))(value))
    except CellError:
        return value


def plan_problem(settings: Settings, plan: Plan) -> tuple[str, dict[str, str]] | None:
    """Why the plan cannot run under this config (a catalog key and its values), or None."""
    if plan.layout not in settings.layouts:
        return "run.unknown_layout", {"layout": plan.layout}
    if plan.keyed and not settings.layouts[plan.layout].key:
        return "run.no_key", {"layout": plan.layout, "mode": plan.mode}
    return None


@dataclass(slots=True)
class Columns:
    """The columns a run reads, and with on_unknown = create the choice columns that
    take any value (by index), each with the values known before this run."""

    specs: list[ColumnSpec]
    creating: dict[int, set[str]]


async def columns_for(settings: Settings, store: Store, plan: Plan) -> Columns:
    found = await _columns(settings, store, plan)
    key = settings.layouts[plan.layout].key
    if plan.keyed:
        found.specs = [_keyed_spec(spec, spec.name in key, plan) for spec in found.specs]
    if plan.keys_only:
        return Columns([spec for spec in found.specs if spec.name in key], {})
    return found


def _keyed_spec(spec: ColumnSpec, in_key: bool, plan: Plan) -> ColumnSpec:
    """A column as a keyed mode reads it. A key cell is required: rows are matched by
    IS NOT DISTINCT FROM, so rows of an empty key would all be one record, each
    overwriting the one before. With blank = "keep" an upsert reads a cell of spaces
    as blank in every column, as it does in a text one."""
    if in_key:
        return replace(spec, required=True)
    if plan.mode == "upsert" and plan.blank == "keep":
        return replace(spec, blank_keeps=True)
    return spec


async def _columns(settings: Settings, store: Store, plan: Plan) -> Columns:
    layout = settings.layouts[plan.layout]
    if not any(c.type == "choice" for c in layout.columns):
        return Columns([ColumnSpec.of(c) for c in layout.columns], {})
    learned = await store.learned_choices(plan.layout)
    specs, creating = [], {}
    for index, column in enumerate(layout.columns):
        spec = ColumnSpec.of(column)
        if column.type == "choice":
            values = [*(column.values or ()), *learned.get(column.name, ())]
            # Known values are matched under their normal form even when new ones are
            # created, so a created value is never a second spelling of a known one.
            spec = replace(spec, values=values, creates=plan.on_unknown == "create")
            if plan.on_unknown == "create":
                creating[index] = set(values)
        specs.append(spec)
    return Columns(specs, creating)


def import_spec(
    settings: Settings, account: Account, plan: Plan, columns: Columns, filename: str = ""
) -> ImportSpec:
    """How the reader reads the file: a workbook (by its name) as one sheet of it."""
    limits = settings.limits_for(account)
    return ImportSpec(
        columns.specs,
        plan.encoding,
        plan.header,
        limits.max_rows,
        limits.max_bytes,
        settings.report.language,
        other_columns=plan.keys_only,
        workbook=is_workbook(filename),
        sheet=account.sheet,
    )


def with_plan(settings: Settings, run: dict[str, Any]) -> dict[str, Any]:
    """A queued run with what its account's plan already says (layout, mode, dry run,
    an encoding not left to be detected): the importer records them only once it
    takes the file, and they are known from the moment it was accepted."""
    account = settings.accounts.get(run["account"])
    if run["state"] != RunState.QUEUED or run["layout"] or account is None:
        return run
    try:
        plan = plan_for(account, json.loads(run["options"] or "{}"))
    except (ValueError, TypeError):  # options no plan is made of: the importer says so
        return run
    known = {"layout": plan.layout, "mode": plan.mode, "dry_run": int(plan.dry_run)}
    if plan.encoding != "auto":
        known["encoding"] = plan.encoding
    return run | known
