"""The import endpoints as OpenAPI describes them: the generic `POST /api/v1/imports`,
whose form is read by hand (part names vary per sender), and each account's own path
in its own request shape (part names, token header, body), added to the schema the web
app serves. Also the shape of every error the HTTP API answers (ErrorBody). No
`from __future__ import annotations` here: FastAPI reads ErrorBody at run time.
"""

import copy
from typing import Any

from pydantic import BaseModel

from daemon.settings import ApiAccount, Settings

GENERIC_PATH = "/api/v1/imports"


class ErrorBody(BaseModel):
    """Every error the HTTP API answers: a stable code and what is wrong."""

    error: str
    message: str


# The form is read by handlers/api.py (part names vary per sender), so its shape is declared
# by hand; describe_own_paths() gives each account's own path its own shape. So are the
# flags, read by _flag() as on an account's own path, so a bad value is the same counted
# `bad_query` refusal on both, not FastAPI's uncounted `invalid_request`; and the token
# header, read from the request too, where FastAPI's Header() cost every import a
# dependency solved and validated.
IMPORT_BODY: dict[str, Any] = {
    "parameters": [
        {
            "name": "authorization",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "title": "Authorization"},
        },
        *(
            {
                "name": flag,
                "in": "query",
                "required": False,
                "schema": {"type": "boolean", "default": False, "title": title},
            }
            for flag, title in (("wait", "Wait"), ("dry_run", "Dry Run"))
        ),
    ],
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "additionalProperties": False,
                }
            }
        },
    },
}
# With ?wait=true, 200, 413 and 422 carry the finished run; without, 413 and 422 an error.
RESPONSES: dict[int | str, dict[str, Any]] = {
    **{code: {"model": ErrorBody} for code in (401, 403, 503)},
    **{
        code: {
            "description": "the finished run (with ?wait=true) or an error",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
        for code in (200, 413, 422)
    },
}


def describe_own_paths(schema: dict[str, Any], settings: Settings) -> None:
    """Add each account's own import path to the OpenAPI `schema`, in its shape."""
    generic = schema["paths"][GENERIC_PATH]["post"]
    for path, api in _own_paths(settings).items():
        schema["paths"].setdefault(path, {})["post"] = _shaped_operation(generic, path, api)


def _own_paths(settings: Settings) -> dict[str, ApiAccount]:
    """Each account's own import path (not the generic one), with its request shape."""
    paths: dict[str, ApiAccount] = {}
    for account in settings.accounts.values():
        if account.api is not None and account.api.path != GENERIC_PATH:
            paths.setdefault(account.api.path, account.api)
    return paths


def _shaped_operation(generic: dict[str, Any], path: str, api: ApiAccount) -> dict[str, Any]:
    """The generic import operation, in the request shape of `path`'s accounts."""
    operation = copy.deepcopy(generic)
    operation["operationId"] = "import_at_" + "".join(c if c.isalnum() else "_" for c in path)
    operation["summary"] = f"Push one CSV in part `{api.file_field}`"
    # The generic path's description names its own part and field, not this path's.
    operation["description"] = (
        f"Push one CSV: part `{api.file_field}`, options as fields or a JSON field"
        f" `{api.json_field}`; the token in header `{api.token_header}`."
    )
    queries = [p for p in operation.get("parameters", []) if p["in"] == "query"]
    token = {
        "name": api.token_header,
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
    }
    operation["parameters"] = [*queries, token]
    fields: dict[str, Any] = {api.file_field: {"type": "string", "format": "binary"}}
    fields[api.json_field] = {"type": "string", "description": "parameters as a JSON object"}
    form = {"type": "object", "required": [api.file_field], "properties": fields}
    if api.body == "form-data":
        form["additionalProperties"] = {"type": "string"}
    operation["requestBody"] = {
        "required": True,
        "content": {"multipart/form-data": {"schema": form}},
    }
    return operation
