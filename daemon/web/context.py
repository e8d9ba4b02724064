"""What the routes need from the daemon, kept on `app.state` by create_app().

Read through these accessors so every route names what it depends on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Request

from daemon.settings import Settings
from daemon.spool.retry import Retried
from daemon.store.base import Store
from importers.messages import LANGUAGES

Poll = Callable[[str], Awaitable[list[str]]]
Retry = Callable[[Mapping[str, Any]], Awaitable[Retried]]
Switch = Callable[[str, str, str], Awaitable[None]]  # account, status, by whom: 稼働 / 停止


def settings(request: Request) -> Settings:
    return request.app.state.settings()


def store(request: Request) -> Store:
    return request.app.state.store


def poll(request: Request) -> Poll | None:
    return request.app.state.poll


def retry(request: Request) -> Retry | None:
    return request.app.state.retry


def ready(request: Request) -> bool:
    return request.app.state.ready()


def language(request: Request) -> str:
    """The language the API answers in: `report.language`, read at each request so a
    reload changes it, unless `Accept-Language` asks for one renkei speaks (ja, en)."""
    for tag in _accepted(request.headers.get("accept-language", "")):
        if tag in LANGUAGES:
            return tag
    return settings(request).report.language


def _accepted(header: str) -> list[str]:
    """The primary language tags of an Accept-Language header, most wanted first."""
    ranked = []
    for item in header.split(","):
        tag, _, weight = item.partition(";")
        try:
            q = float(weight.strip().removeprefix("q=")) if weight else 1.0
        except ValueError:
            continue
        if q > 0:
            ranked.append((-q, tag.strip().split("-")[0].lower()))
    return [tag for _, tag in sorted(ranked, key=lambda r: r[0])]
