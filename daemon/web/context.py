"""What the routes need from the daemon, kept on `app.state` by create_app().

Read through these accessors so every route names what it depends on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from daemon.settings import Settings
from daemon.store.sqlite import SqliteStore

Poll = Callable[[str], Awaitable[list[str]]]


def settings(request: Request) -> Settings:
    return request.app.state.settings()


def store(request: Request) -> SqliteStore:
    return request.app.state.store


def poll(request: Request) -> Poll | None:
    return request.app.state.poll


def ready(request: Request) -> bool:
    return request.app.state.ready()
