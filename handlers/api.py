"""API intake. Turns a multipart import request into a Delivery; never parses CSV.

Each account's request shape comes from its `[accounts.X.api]` table: the part that
holds the CSV, and whether the request parameters arrive as form fields (`form-data`)
or JSON-encoded in one field (`json`). Parameters mean only what the account's
`params` mapping says: a parameter or value the mapping does not name is refused.
The web app (daemon/web.py) authenticates, calls `delivery()`, spools the result and
answers. Every way a request can be unreadable is an ApiRefusal carrying its HTTP
status, so the edge never answers 500 for bad input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daemon.settings import ApiAccount, ParamEffect
from handlers.base import Delivery, bare_name

CHANNEL = "api"
WILDCARD = "*"
DEFAULT_SHAPE = ApiAccount()


@dataclass
class ApiRefusal(Exception):
    status: int
    code: str
    message: str


def delivery(
    account: str,
    form: Any,
    max_bytes: int,
    shape: ApiAccount | None = None,
    dry_run: bool = False,
) -> tuple[Delivery, bytes]:
    """The Delivery for a parsed multipart form, or ApiRefusal saying what is wrong."""
    shape = shape or DEFAULT_SHAPE
    upload = form.get(shape.file_field)
    if upload is None or isinstance(upload, str):
        files = [k for k, v in form.multi_items() if not isinstance(v, str)]
        hint = f"; the request has file parts {files}" if files else ""
        raise ApiRefusal(
            422, "missing_file", f"no CSV in the multipart part '{shape.file_field}'{hint}"
        )
    options = map_params(parameters(form, shape), shape.params)
    if dry_run:
        options["dry_run"] = True
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiRefusal(413, "too_large", f"the file is larger than {max_bytes} bytes")
    name = bare_name(upload.filename or "")
    return Delivery(account, CHANNEL, account, name, data, options=options), data


def parameters(form: Any, shape: ApiAccount) -> dict[str, str]:
    """The request's parameters as text, from form fields or the JSON field."""
    params: dict[str, str] = {}
    if shape.body == "form-data":
        for key, value in form.multi_items():
            if key in (shape.file_field, shape.json_field):
                continue
            if not isinstance(value, str):
                raise ApiRefusal(422, "unexpected_file", f"unexpected file part '{key}'")
            params[key] = value
    raw = form.get(shape.json_field)
    if raw is None:
        return params
    if not isinstance(raw, str):
        raise ApiRefusal(422, "bad_settings", f"'{shape.json_field}' must be a JSON text field")
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise ApiRefusal(422, "bad_settings", f"'{shape.json_field}' is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise ApiRefusal(422, "bad_settings", f"'{shape.json_field}' must be a JSON object")
    for key, value in parsed.items():
        if isinstance(value, dict | list):
            raise ApiRefusal(422, "bad_settings", f"parameter '{key}' must be a plain value")
        params[key] = value if isinstance(value, str) else json.dumps(value)
    return params


def map_params(
    params: Mapping[str, str], mapping: Mapping[str, Mapping[str, ParamEffect]]
) -> dict[str, Any]:
    """The import options the parameters choose, by the account's mapping."""
    unknown = sorted(set(params) - set(mapping))
    if unknown:
        raise ApiRefusal(
            422,
            "unknown_parameter",
            f"parameters this account does not map: {', '.join(unknown)}",
        )
    options: dict[str, Any] = {}
    for name, value in params.items():
        values = mapping[name]
        effect = values.get(value, values.get(WILDCARD))
        if effect is None:
            raise ApiRefusal(
                422,
                "bad_parameter_value",
                f"parameter {name}={value!r} is not mapped; allowed: {', '.join(values)}",
            )
        options.update(effect.model_dump(exclude_none=True))
    return options
