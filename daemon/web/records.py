"""The Records API: one layout table's rows over HTTP, in the conventions of 商談API.

    GET    /api/v1/records/{layout}            search: search[col]=…, sort[col]=asc|desc,
    POST   /api/v1/records/{layout}/search      page[number], page[display_number] (form body)
    GET    /api/v1/records/{layout}/history     the operation log, newest first
    GET    /api/v1/records/{layout}/{key}       one record by the layout's key
    POST   /api/v1/records/{layout}             create
    PATCH  /api/v1/records/{layout}/{key}       change the given columns
    DELETE /api/v1/records/{layout}/{key}       delete

A search matches key and choice columns exactly, text columns partially, and takes
`search[col][from]` / `[to]` for dates, datetimes and numbers. A choice, searched or
in the path's key, is matched as an import's cell is (choice_form over the listed and
learned values), so `Ａ` finds the rows holding `A`. Values written are
converted and validated by the column's own converter (importers/layouts.py), as an
import's cells are, and a reference column's value must name a row of its layout, as on
import (daemon/worker/references.py); each field's problem is said with the column's
label, in the request's language. A key in the path is its columns' values joined by `,`.

An account's token sees and changes only its account's rows (another account's key is
a 404); the admin token sees every account's and names the account of a new row in
`_account`. Every change is logged (store/records.py) with who, when, before and after.
"""

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import replace
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Form, Query, Request, params
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import FormData

from daemon.settings import Column, Layout
from daemon.spool.queue import now_iso
from daemon.store.records import Condition, Order, Stamp
from daemon.web import context
from daemon.web.auth import Auth, Principal
from daemon.web.errors import ApiError, responses
from daemon.web.watchedform import WatchedFormRoute, form_cut
from daemon.worker.references import references_of
from handlers.apidocs import ErrorBody
from importers.errors import CellError
from importers.layouts import ColumnSpec, converter, display_name, listed_spelling
from importers.messages import CATALOG, cut, message

BASE = "/api/v1/records/{layout}"
MAX_DISPLAY = 100
DEFAULT_DISPLAY = 20
MAX_PAGE = 10**9  # keeps the offset well inside SQLite's 64-bit integers
ACCOUNT_FIELD = "_account"
_SEARCH = re.compile(r"search\[([^\[\]]*)\](?:\[([^\[\]]*)\])?")
_SORT = re.compile(r"sort\[([^\[\]]*)\]")
# A search makes one condition per field, ANDed: SQLite refuses an expression deeper
# than 1000 and an ORDER BY of more than 2000 terms (a 500 before these bounds), and
# PostgreSQL takes each as a parameter and a plan node. Each field given once bounds
# them by the layout's columns, which a wide layout may hold by the hundred; these
# bound them well below either store's limits.
MAX_SEARCHES = 100
MAX_SORTS = 20
_RANGED = ("int", "decimal", "date", "datetime")
_EXACT = ("int", "decimal", "date", "datetime", "bool")  # searched by their converted value


class Page(BaseModel):
    number: int
    display_number: int
    total_count: int


class RecordsAnswer(BaseModel):
    records: list[dict[str, Any]]
    page: Page


class HistoryEntry(BaseModel):
    seq: int
    at: str
    who: str
    account: str
    action: str  # create | update | delete
    key: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class HistoryAnswer(BaseModel):
    history: list[HistoryEntry]
    page: Page


class FieldError(BaseModel):
    field: str
    label: str
    message: str


class RecordErrorBody(ErrorBody):
    """A 422: `invalid_record` lists each field's problem in `errors`."""

    errors: list[FieldError] = []


PageNumber = Annotated[int, Query(alias="page[number]", ge=1, le=MAX_PAGE)]
DisplayNumber = Annotated[int, Query(alias="page[display_number]", ge=1, le=MAX_DISPLAY)]
_INVALID: dict[int | str, dict[str, Any]] = {422: {"model": RecordErrorBody}}
# The code a route says its other bad queries with: history's are FastAPI's own (a page
# out of range); the rest have none of their own, and say search's.
_TWICE_CODES = {f"{BASE}/history": "invalid_request"}


async def _given_once(request: Request, who: Auth) -> None:
    """A parameter the route reads one value of, given more than once (in the query,
    or in the query and the form) is a 422 naming it: FastAPI would take the last and
    say nothing. Every query and form parameter of these routes takes one value;
    `search[…]` and `sort[…]`, read from the fields themselves, are _conditions'. Asks
    for the token first, so a request without one is a 401 still."""
    route = request.scope["route"]
    single = {field.alias for field in route.dependant.query_params}
    forms = {f.alias for f in route.dependant.body_params if isinstance(f.field_info, params.Form)}
    given = [name for name, _ in request.query_params.multi_items()]
    if forms:
        single |= forms
        given += [name for name, _ in (await request.form()).multi_items()]
    for name, count in Counter(given).items():
        if count > 1 and name in single:
            code = _TWICE_CODES.get(route.path, "invalid_search")
            raise ApiError(422, code, "records.given_twice", field=name)


async def _known_layout(request: Request, who: Auth) -> None:
    """404 for a layout the config does not have, before anything the query or the
    form asks is looked at (_given_once, FastAPI's own checks of each parameter): what
    the path names is answered first, as on every other route. Asks for the token
    first, so a stranger learns no layout's name."""
    _layout(request, request.path_params["layout"])


# Every route checks its layout, then that its parameters are given once (in this order:
# FastAPI solves a router's dependencies as listed, before the route's parameters).
router = APIRouter(dependencies=[Depends(_known_layout), Depends(_given_once)])


# -- the layout, its columns and keys --------------------------------------------------


def _layout(request: Request, name: str) -> Layout:
    layout = context.settings(request).layouts.get(name)
    if layout is None:
        raise ApiError(404, "not_found", "records.not_found.layout", layout=name)
    return layout


def _names(layout: Layout) -> list[str]:
    return [c.name for c in layout.columns]


def _column(layout: Layout, name: str) -> Column | None:
    return next((c for c in layout.columns if c.name == name), None)


async def _specs(request: Request, name: str, layout: Layout) -> dict[str, ColumnSpec]:
    """Each column as the converter takes it; a choice column takes its own values and
    those imports created (on_unknown = create), no other."""
    learned: dict[str, list[str]] = {}
    if any(c.type == "choice" for c in layout.columns):
        learned = await context.store(request).known_choices(name)
    specs = {}
    for column in layout.columns:
        spec = ColumnSpec.of(column)
        if column.type == "choice":
            values = [*(column.values or ()), *learned.get(column.name, ())]
            spec = replace(spec, values=values)
        specs[column.name] = spec
    return specs


def key_text(values: Iterable[object]) -> str:
    """A key as the path names it: its values joined by `,`."""
    return ",".join("" if v is None else str(v) for v in values)


def _key_of(
    layout_name: str, layout: Layout, specs: Mapping[str, ColumnSpec], text: str
) -> dict[str, object]:
    """The key columns' values a path's `{key}` names, converted by `specs` (_specs: a
    choice by its listed and learned values); 409 without a key, 404 when the text
    cannot be one (wrong number of parts, a value its column would refuse)."""
    if not layout.key:
        raise ApiError(409, "no_key", "records.no_key", layout=layout_name)
    parts = text.split(",", len(layout.key) - 1) if len(layout.key) > 1 else [text]
    if len(parts) != len(layout.key):
        raise ApiError(
            404, "not_found", "records.not_found.record", layout=layout_name, record=text
        )
    key = {}
    for name, part in zip(layout.key, parts, strict=True):
        spec = specs.get(name)
        try:
            key[name] = converter(spec)(part) if spec else part
        except CellError:
            raise ApiError(
                404, "not_found", "records.not_found.record", layout=layout_name, record=text
            ) from None
    return key


def _shown(layout: Layout, record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's columns as JSON says them: a bool column's 1 and 0, as the table
    keeps them, are true and false."""
    shown = {c.name: record.get(c.name) for c in layout.columns if c.name in record}
    for column in layout.columns:
        if column.type == "bool" and isinstance(shown.get(column.name), int):
            shown[column.name] = bool(shown[column.name])
    return shown


def _public(record: Mapping[str, Any], layout: Layout) -> dict[str, Any]:
    """A row as the API answers it: its columns, its key and whose it is."""
    answer = {c.name: None for c in layout.columns} | _shown(layout, record)
    answer["_key"] = key_text(record.get(k) for k in layout.key) if layout.key else None
    answer["_account"] = record["_account"]
    answer["_source_file"] = record["_source_file"]
    answer["_run_id"] = record["_run_id"] or None
    return answer


def _stamp(who: Principal) -> Stamp:
    return Stamp(who.account or "admin", now_iso())


# -- search ----------------------------------------------------------------------------


def _page(number: int, display: int, total: int) -> dict[str, int]:
    return {"number": number, "display_number": display, "total_count": total}


def _conditions(
    name: str,
    layout: Layout,
    specs: Mapping[str, ColumnSpec],
    items: Iterable[tuple[str, str]],
    who: Principal,
    account: str | None,
    language: str,
) -> tuple[list[Condition], list[Order], bool]:
    """The search conditions and sort order of `items` (query or form fields); False
    when the token's account is not the one asked for (the answer is empty). Each
    field may be given once, and at most MAX_SEARCHES / MAX_SORTS of them (the paging
    fields and `account` are _given_once's)."""
    conditions: list[Condition] = []
    order: list[Order] = []
    accounts = [account] if account else []
    searched: set[str] = set()
    for field, value in items:
        if match := _SEARCH.fullmatch(field):
            column_name, op = match.groups()
            _once(searched, column_name, op, MAX_SEARCHES)
            if column_name == ACCOUNT_FIELD and op is None:
                if value:
                    accounts.append(value)
                continue
            condition = _search(name, layout, specs, column_name, op, value, language)
            if condition is not None:
                conditions.append(condition)
        elif match := _SORT.fullmatch(field):
            order.append(_sort(name, layout, match.group(1), value, order))
        elif field.startswith(("search", "sort")):
            # `search[code]]`, `search[code`: passed over, the search found every row.
            raise ApiError(422, "invalid_search", "records.search_field", field=field)
    if who.account is not None:
        if any(a != who.account for a in accounts):
            return conditions, order, False
        accounts = [who.account]
    for owner in dict.fromkeys(accounts):
        conditions.append(Condition(ACCOUNT_FIELD, "eq", owner))
    return conditions, order, True


def _once(searched: set[str], column_name: str, op: str | None, limit: int) -> None:
    """Note a search field as given; a second time, or one field too many, is a 422.
    A field is a column and its operator: `search[d]`, `[d][from]`, `[d][to]` are three."""
    field = f"{column_name}][{op}" if op is not None else column_name
    if field in searched:
        raise ApiError(422, "invalid_search", "records.search_twice", column=field)
    if len(searched) >= limit:
        raise ApiError(422, "invalid_search", "records.too_many_searches", limit=limit)
    searched.add(field)


def _search(
    name: str,
    layout: Layout,
    specs: Mapping[str, ColumnSpec],
    column_name: str,
    op: str | None,
    value: str,
    language: str,
) -> Condition | None:
    column = _column(layout, column_name)
    if column is None:
        raise ApiError(
            422, "unknown_column", "records.unknown_search", column=column_name, layout=name
        )
    if value == "":  # an empty form field searches for nothing
        return None
    if op is not None and (op not in ("from", "to") or column.type not in _RANGED):
        key = "records.search_range" if op in ("from", "to") else "records.search_op"
        raise ApiError(422, "invalid_search", key, column=column_name, op=op)
    numeric = column.type == "decimal"
    if op is None and column.type == "choice":
        return Condition(column.name, "eq", _choice_searched(specs[column.name], value))
    if op is None and column.type not in _EXACT:
        exact = column.name in layout.key
        return Condition(column.name, "eq" if exact else "contains", value)
    return Condition(column.name, op or "eq", _searched(column, value, op, language), numeric)


def _choice_searched(spec: ColumnSpec, value: str) -> str:
    """A searched choice as the rows write it: the listed or learned value of its normal
    form. A value of no known form is compared as given: no row imported under this
    list holds it, so it finds nothing (or a row written before the list changed)."""
    return listed_spelling(spec.values or [], value)


def _searched(column: Column, value: str, op: str | None, language: str) -> object:
    """A searched value converted as the column's cells are; a datetime's range may
    name a day alone (from its first second, to its last)."""
    try:
        return converter(ColumnSpec.of(column))(value)
    except CellError as error:
        if column.type == "datetime" and op is not None:
            with suppress(CellError):
                day = converter(ColumnSpec(column.name, "date"))(value)
                return f"{day}T23:59:59" if op == "to" else f"{day}T00:00:00"
        field = f"{column.name}][{op}" if op else column.name
        problem = _problem(error, column, language)
        raise ApiError(
            422, "invalid_search", "records.bad_search", column=field, problem=problem
        ) from None


def _sort(name: str, layout: Layout, column_name: str, value: str, given: Sequence[Order]) -> Order:
    """The order `sort[column]=value` asks for, after those `given` before it."""
    column = _column(layout, column_name)
    if column is None:
        raise ApiError(
            422, "unknown_column", "records.unknown_sort", column=column_name, layout=name
        )
    if any(o.column == column.name for o in given):
        raise ApiError(422, "invalid_sort", "records.sort_twice", column=column_name)
    if len(given) >= MAX_SORTS:
        raise ApiError(422, "invalid_sort", "records.too_many_sorts", limit=MAX_SORTS)
    direction = value.strip().lower()
    if direction not in ("asc", "desc"):
        raise ApiError(422, "invalid_sort", "records.bad_sort", column=column_name, value=value)
    return Order(column.name, direction == "desc", column.type == "decimal")


async def _search_answer(
    request: Request,
    name: str,
    who: Principal,
    items: Iterable[tuple[str, str]],
    account: str | None,
    number: int,
    display: int,
) -> dict[str, Any]:
    layout = _layout(request, name)
    language = context.language(request)
    specs = await _specs(request, name, layout)
    conditions, order, visible = _conditions(name, layout, specs, items, who, account, language)
    if not visible:
        return {"records": [], "page": _page(number, display, 0)}
    rows, total = await context.store(request).search_records(
        name, _names(layout), conditions, order, display, (number - 1) * display
    )
    return {"records": [_public(r, layout) for r in rows], "page": _page(number, display, total)}


_SEARCH_DOC = (
    "Search the layout's rows: `search[column]=value` (exact for key and choice columns,"
    " partial for text), `search[column][from]` / `search[column][to]` for dates,"
    " datetimes and numbers, `search[_account]` (admin), `sort[column]=asc|desc` (several,"
    " in the order given); `page[number]`, `page[display_number]` (1–100, default 20)."
    f" Each field once, at most {MAX_SEARCHES} `search[…]` and {MAX_SORTS} `sort[…]`:"
    " more is a 422 `invalid_search` / `invalid_sort`."
)


@router.get(
    BASE,
    response_model=RecordsAnswer,
    responses=responses(401, 404) | _INVALID,
    description=_SEARCH_DOC,
)
async def search_records(
    request: Request,
    layout: str,
    who: Auth,
    account: str | None = None,
    number: PageNumber = 1,
    display: DisplayNumber = DEFAULT_DISPLAY,
) -> dict[str, Any]:
    items = request.query_params.multi_items()
    return await _search_answer(request, layout, who, items, account, number, display)


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def search_records_by_form(
    request: Request,
    layout: str,
    who: Auth,
    account: Annotated[str | None, Form()] = None,
    number: Annotated[int, Form(alias="page[number]", ge=1, le=MAX_PAGE)] = 1,
    display: Annotated[
        int, Form(alias="page[display_number]", ge=1, le=MAX_DISPLAY)
    ] = DEFAULT_DISPLAY,
) -> dict[str, Any]:
    sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if sent not in _FORMS and await request.body():
        # A JSON search, or a body of no type, read as a form is an empty form: every
        # row, which is not what was asked for.
        if not sent:
            raise ApiError(422, "invalid_search", "records.search_no_type")
        raise ApiError(422, "invalid_search", "records.search_not_form", sent=sent)
    coding = request.headers.get("content-encoding", "identity").strip()
    if coding.lower() != "identity":
        # A compressed form is read as one field of a name no search has: every row.
        raise ApiError(422, "unreadable_request", "api.unreadable_request.encoded", coding=coding)
    if form_cut(request):
        # Read as the fields it got, it would search for less, or for everything.
        raise ApiError(422, "unreadable_request", "api.unreadable_request.truncated")
    for field in request.query_params:
        # Only the form is read: a condition left in the query string found every row.
        if field in ("account", "page[number]", "page[display_number]") or field.startswith(
            ("search[", "sort[")
        ):
            raise ApiError(422, "invalid_search", "records.search_in_query", field=field)
    form = await request.form()
    items = (
        [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        if isinstance(form, FormData)
        else []
    )
    return await _search_answer(request, layout, who, items, account, number, display)


# Its form is watched to its end while FastAPI reads it (daemon/web/watchedform.py).
router.add_api_route(
    f"{BASE}/search",
    search_records_by_form,
    methods=["POST"],
    response_model=RecordsAnswer,
    responses=responses(400, 401, 404) | _INVALID,
    description=_SEARCH_DOC
    + " The same fields as a form body (application/x-www-form-urlencoded).",
    route_class_override=WatchedFormRoute,
)


# -- the operation log -----------------------------------------------------------------


@router.get(
    f"{BASE}/history",
    response_model=HistoryAnswer,
    responses=responses(401, 404, 422),
)
async def record_history(
    request: Request,
    layout: str,
    who: Auth,
    key: str | None = None,
    account: str | None = None,
    number: PageNumber = 1,
    display: DisplayNumber = DEFAULT_DISPLAY,
) -> dict[str, Any]:
    """Every change the Records API made to the layout's rows, newest first: `seq`,
    `at`, `who` (admin or the account), `account`, `action`, `key`, `before`, `after`.
    An account's token sees its account's alone; `key=` narrows it to one record."""
    found = _layout(request, layout)
    if who.account is not None:
        if account not in (None, who.account):
            return {"history": [], "page": _page(number, display, 0)}
        account = who.account
    values = None
    if key is not None:
        try:
            specs = await _specs(request, layout, found)
            values = list(_key_of(layout, found, specs, key).values())
        except ApiError as refused:
            if refused.code == "no_key":
                raise
            return {"history": [], "page": _page(number, display, 0)}
    rows, total = await context.store(request).record_history(
        layout, account, values, display, (number - 1) * display
    )
    for row in rows:
        row["key"] = key_text(row["key"])
        for side in ("before", "after"):
            if row[side] is not None:
                row[side] = row[side] | _shown(found, row[side])
    return {"history": rows, "page": _page(number, display, total)}


# -- one record ------------------------------------------------------------------------


async def _one(
    request: Request,
    name: str,
    layout: Layout,
    specs: Mapping[str, ColumnSpec],
    text: str,
    who: Principal,
    account: str | None,
) -> dict[str, Any]:
    """The one row `text` names that the token may see (of `account`, when given)."""
    key = _key_of(name, layout, specs, text)
    owner = who.account or account
    if who.account is not None and account not in (None, who.account):
        raise ApiError(404, "not_found", "records.not_found.record", layout=name, record=text)
    found = await context.store(request).find_records(name, _names(layout), key, owner)
    if not found:
        raise ApiError(404, "not_found", "records.not_found.record", layout=name, record=text)
    if len(found) > 1:
        several = len({r["_account"] for r in found}) > 1
        which = "records.ambiguous_key.accounts" if several else "records.ambiguous_key.rows"
        raise ApiError(409, "ambiguous_key", which, layout=name, record=text)
    return found[0]


@router.get(f"{BASE}/{{key}}", responses=responses(401, 404, 409, 422))
async def get_record(
    request: Request, layout: str, key: str, who: Auth, account: str | None = None
) -> dict[str, Any]:
    """One record by the layout's key (composite keys: the values joined by `,`); the
    admin names the account with `account=` when several accounts hold the key."""
    found = _layout(request, layout)
    specs = await _specs(request, layout, found)
    return _public(await _one(request, layout, found, specs, key, who, account), found)


# -- changes ---------------------------------------------------------------------------


def _problem(error: CellError, column: Column | ColumnSpec, language: str) -> str:
    """A converter's cell error as a sentence naming the column by its label."""
    label = display_name(column)
    key = "records." + error.key.removeprefix("cell.")
    if key not in CATALOG or not error.key.startswith("cell."):
        problem = message(error.key, language, **error.params)
        return message("records.invalid", language, label=label, problem=problem)
    return message(key, language, label=label, **error.params)


def _cell(value: object) -> str | None:
    """The text a JSON value stands for, as a cell would hold it; None: not a value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None  # NaN and Infinity, which Python's JSON reads: no number of ours
        if value.is_integer():
            return str(int(value))  # 1e3 and 1000.0 as 1000, as a workbook's cell reads
        # As written, without the exponent str() gives 0.00001 and 1e+16.
        return format(Decimal(repr(value)), "f")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return value
    return None


class _Problems:
    """The fields of a body that are wrong, each said once in the request's language."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.errors: list[dict[str, str]] = []

    def add(self, field: str, label: str, key: str, **params: object) -> None:
        text = message(key, self.language, label=label, **params)
        self.errors.append({"field": field, "label": label, "message": text})

    def raise_if_any(self) -> None:
        if not self.errors:
            return
        problems = "; ".join(e["message"] for e in self.errors)
        text = message("records.invalid_record", self.language, problems=problems)
        body = {"error": "invalid_record", "message": text, "errors": self.errors}
        raise _Invalid(body)


async def _given_twice(request: Request, problems: _Problems) -> None:
    """Note each field the JSON body names more than once: read into a dict, the last
    value was taken unsaid (the import door refuses it, as the query's fields)."""
    try:
        top = json.loads(await request.body(), object_pairs_hook=list)
    except ValueError:
        return  # refused as no JSON object before this
    if not isinstance(top, list):
        return
    counted = Counter(name for name, _ in top if isinstance(name, str))
    for name, times in counted.items():
        if times > 1:
            problems.add(name, name, "records.field_twice")


class _Invalid(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["message"])
        self.body = body


def _converted(
    layout: Layout,
    specs: Mapping[str, ColumnSpec],
    body: Mapping[str, Any],
    problems: _Problems,
    fixed: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The body's columns converted; unknown columns and bad values go to `problems`.
    `fixed` (an update): key columns that may keep their value but not change it."""
    values: dict[str, object] = {}
    for field, raw in body.items():
        if field == ACCOUNT_FIELD:
            continue
        column = _column(layout, field)
        if column is None:
            problems.add(field, field, "records.unknown_column")
            continue
        label = display_name(column)
        if isinstance(raw, str) and "\x00" in raw:
            # As a file holding one is refused (SQLite kept it, PostgreSQL cannot).
            problems.add(field, label, "records.nul")
            continue
        text = _cell(raw)
        if text is None:
            # 1e400 is a number JSON allows and Python reads as infinity: past any
            # column's range, not "no number".
            infinite = isinstance(raw, float) and math.isinf(raw)
            problems.add(field, label, "records.too_large" if infinite else "records.not_a_value")
            continue
        try:
            value = converter(specs[field])(text)
        except CellError as error:
            problem = _problem(error, column, problems.language)
            problems.errors.append({"field": field, "label": label, "message": problem})
            continue
        if fixed is not None and field in fixed and value != fixed[field]:
            problems.add(field, label, "records.key_fixed")
            continue
        values[field] = value
    return values


def _key_required(layout: Layout, specs: Mapping[str, ColumnSpec]) -> dict[str, ColumnSpec]:
    """A new record's key cells are required, as a keyed import reads them
    (worker/plan.py): a record of an empty key could never be named in a path, and
    records of one empty key would be one record."""
    return {
        name: replace(spec, required=True) if name in layout.key else spec
        for name, spec in specs.items()
    }


def _check_key(layout: Layout, values: Mapping[str, object], problems: _Problems) -> None:
    """A new record's key must be one a path can name: a `/` ends the path's `{key}`,
    and a `,` before the last key column splits it elsewhere. A record created with
    one could never be read, changed or deleted again."""
    for index, name in enumerate(layout.key):
        text = key_text([values.get(name)])
        column = _column(layout, name)
        label = display_name(column) if column else name
        if "/" in text:
            problems.add(name, label, "records.key_slash")
        elif "," in text and index < len(layout.key) - 1:
            problems.add(name, label, "records.key_comma")


async def _check_references(
    request: Request,
    layout_name: str,
    layout: Layout,
    owner: str,
    values: Mapping[str, object],
    problems: _Problems,
) -> None:
    """A reference column's value must name a row of its layout, by the key the owning
    account matches on (`member_key`), as an import checks its cells. Checked before
    the write, on the reader: a row removed in between is not noticed."""
    settings = context.settings(request)
    account = settings.accounts.get(owner)
    store = context.store(request)
    for ref in references_of(settings, layout_name, account.member_key if account else None):
        column = layout.columns[ref.index]
        value = values.get(column.name)
        if value is None or value == "":
            continue
        found = await store.found_values(store.reader, ref.layout, ref.key, [value])
        if str(value) not in {str(v) for v in found}:
            problems.add(
                column.name,
                display_name(column),
                "records.reference",
                value=cut(value),
                layout=ref.layout,
                key_column=ref.key_shown,
            )


def _invalid(exc: _Invalid) -> JSONResponse:
    return JSONResponse(exc.body, 422)


def _new_account(
    request: Request, who: Principal, body: Mapping[str, Any], problems: _Problems
) -> str:
    given = body.get(ACCOUNT_FIELD)
    if who.account is not None:
        if given not in (None, who.account):
            problems.add(ACCOUNT_FIELD, ACCOUNT_FIELD, "records.other_account", name=who.account)
        return who.account
    if given is None or given == "":
        problems.add(ACCOUNT_FIELD, ACCOUNT_FIELD, "records.account_required")
        return ""
    if not isinstance(given, str) or given not in context.settings(request).accounts:
        problems.add(ACCOUNT_FIELD, ACCOUNT_FIELD, "records.unknown_account", name=given)
        return ""
    return given


RecordBody = Annotated[
    dict[str, Any],
    Body(
        description="column → value (text or number, converted as an import's cell);"
        " `_account` names the account of a new row (admin token only)",
        examples=[{"deal_no": "D-1", "amount": 120000, "closed_on": "2024/05/16"}],
    ),
]


@router.post(
    BASE,
    status_code=201,
    responses=responses(400, 401, 404, 409) | _INVALID,
)
async def create_record(request: Request, layout: str, who: Auth, body: RecordBody) -> Any:
    """Create a record. Every required column must be given; the values are validated
    as an import's; 409 `duplicate_key` when the account holds the key already."""
    found = _layout(request, layout)
    if not found.key:
        # A record no path can name: never edited or deleted here, and a client's
        # retry after a timeout made it twice.
        raise ApiError(409, "no_key", "records.no_key.create", layout=layout)
    problems = _Problems(context.language(request))
    await _given_twice(request, problems)
    owner = _new_account(request, who, body, problems)
    specs = _key_required(found, await _specs(request, layout, found))
    values = _converted(found, specs, body, problems)
    for column in found.columns:  # the columns not given: as an empty cell
        if column.name not in body and column.name not in values:
            try:
                values[column.name] = converter(specs[column.name])("")
            except CellError as error:
                problem = _problem(error, column, problems.language)
                label = display_name(column)
                problems.errors.append({"field": column.name, "label": label, "message": problem})
    _check_key(found, values, problems)
    await _check_references(request, layout, found, owner, values, problems)
    try:
        problems.raise_if_any()
    except _Invalid as exc:
        return _invalid(exc)
    key = {k: values[k] for k in found.key}
    changed = await context.store(request).create_record(
        layout, _names(found), key, owner, values, _stamp(who)
    )
    text = key_text(key.values())
    if changed.outcome == "duplicate":
        raise ApiError(409, "duplicate_key", "records.duplicate_key", layout=layout, record=text)
    record = {**(changed.after or {}), "_account": owner, "_source_file": "api:records"}
    return JSONResponse(_public({**record, "_run_id": ""}, found), 201)


@router.patch(f"{BASE}/{{key}}", responses=responses(400, 401, 404, 409) | _INVALID)
async def update_record(
    request: Request,
    layout: str,
    key: str,
    who: Auth,
    body: RecordBody,
    account: str | None = None,
) -> Any:
    """Change the given columns of one record (key columns keep their values)."""
    found = _layout(request, layout)
    specs = await _specs(request, layout, found)
    row = await _one(request, layout, found, specs, key, who, account)
    problems = _Problems(context.language(request))
    await _given_twice(request, problems)
    if ACCOUNT_FIELD in body and body[ACCOUNT_FIELD] != row["_account"]:
        problems.add(ACCOUNT_FIELD, ACCOUNT_FIELD, "records.account_fixed")
    fixed = {k: row[k] for k in found.key}
    values = _converted(found, specs, body, problems, fixed)
    await _check_references(request, layout, found, row["_account"], values, problems)
    try:
        problems.raise_if_any()
    except _Invalid as exc:
        return _invalid(exc)
    changed = await context.store(request).update_record(
        layout, _names(found), fixed, row["_account"], values, _stamp(who)
    )
    _refuse(changed.outcome, layout, key)
    record = {**(changed.after or {}), "_account": row["_account"], "_source_file": "api:records"}
    return _public({**record, "_run_id": ""}, found)


@router.delete(f"{BASE}/{{key}}", responses=responses(401, 404, 409, 422))
async def delete_record(
    request: Request, layout: str, key: str, who: Auth, account: str | None = None
) -> dict[str, Any]:
    """Delete one record; answers it as it was."""
    found = _layout(request, layout)
    specs = await _specs(request, layout, found)
    row = await _one(request, layout, found, specs, key, who, account)
    fixed = {k: row[k] for k in found.key}
    changed = await context.store(request).delete_record(
        layout, _names(found), fixed, row["_account"], _stamp(who)
    )
    _refuse(changed.outcome, layout, key)
    return _public(row, found)


def _refuse(outcome: str, layout: str, key: str) -> None:
    """A row that changed between the look-up and the write."""
    if outcome == "not_found":
        raise ApiError(404, "not_found", "records.not_found.record", layout=layout, record=key)
    if outcome == "ambiguous":
        raise ApiError(
            409, "ambiguous_key", "records.ambiguous_key.rows", layout=layout, record=key
        )
