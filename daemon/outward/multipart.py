"""A multipart/form-data body built once, so that every attempt sends the same bytes.

httpx would draw a new boundary per request; a spooled request must be the request,
byte for byte, whether it goes now or after a restart.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping


def _quoted(text: str) -> str:
    # As browsers write names: quotes escaped, line breaks dropped, UTF-8 kept.
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "")


def form_data(
    fields: Mapping[str, str],
    file_field: str | None = None,
    filename: str = "",
    data: bytes = b"",
    file_type: str = "application/octet-stream",
) -> tuple[bytes, str]:
    """The body and its Content-Type: each field, then the file part (if any)."""
    boundary = "renkei-" + secrets.token_hex(16)
    chunks: list[bytes] = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n'
        chunks.append(head.encode("utf-8") + value.encode("utf-8") + b"\r\n")
    if file_field is None:
        chunks.append(f"--{boundary}--\r\n".encode())
        return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(file_field)}";'
        f' filename="{_quoted(filename)}"\r\nContent-Type: {file_type}\r\n\r\n'
    )
    chunks.append(head.encode("utf-8") + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
