"""API intake. Turns a `POST /api/v1/imports` request into a Delivery; never parses CSV.

The CSV comes in the multipart part `file`; options come as form fields or as one JSON
form field `settings`. The web app (daemon/web.py) authenticates, calls `delivery()`,
spools the result and answers. Every way a request can be unreadable is an ApiRefusal
carrying its HTTP status, so the edge never answers 500 for bad input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from handlers.base import Delivery, bare_name

CHANNEL = "api"
FILE_FIELD = "file"
SETTINGS_FIELD = "settings"
KNOWN_OPTIONS: frozenset[str] = frozenset()  # import options arrive with import modes


@dataclass
class ApiRefusal(Exception):
    status: int
    code: str
    message: str


def delivery(
    account: str, form: Any, max_bytes: int, known_options: frozenset[str] = KNOWN_OPTIONS
) -> tuple[Delivery, bytes]:
    """The Delivery for a parsed multipart form, or ApiRefusal saying what is wrong."""
    upload = form.get(FILE_FIELD)
    if upload is None or isinstance(upload, str):
        files = [k for k, v in form.multi_items() if not isinstance(v, str)]
        hint = f"; the request has file parts {files}" if files else ""
        raise ApiRefusal(422, "missing_file", f"no CSV in the multipart part '{FILE_FIELD}'{hint}")
    options = _options(form)
    unknown = sorted(set(options) - known_options)
    if unknown:
        raise ApiRefusal(422, "unknown_option", f"options not understood: {', '.join(unknown)}")
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiRefusal(413, "too_large", f"the file is larger than {max_bytes} bytes")
    name = bare_name(upload.filename or "")
    return Delivery(account, CHANNEL, account, name, data, options=options), data


def _options(form: Any) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key, value in form.multi_items():
        if key in (FILE_FIELD, SETTINGS_FIELD) or not isinstance(value, str):
            continue
        options[key] = value
    raw = form.get(SETTINGS_FIELD)
    if raw is not None:
        if not isinstance(raw, str):
            raise ApiRefusal(422, "bad_settings", f"'{SETTINGS_FIELD}' must be a JSON text field")
        try:
            parsed = json.loads(raw)
        except ValueError as exc:
            raise ApiRefusal(
                422, "bad_settings", f"'{SETTINGS_FIELD}' is not JSON: {exc}"
            ) from None
        if not isinstance(parsed, dict):
            raise ApiRefusal(422, "bad_settings", f"'{SETTINGS_FIELD}' must be a JSON object")
        options.update(parsed)
    return options
