"""Who is asking: the admin token sees every account, an account's token only its own.

Tokens are compared in constant time (settings/secrets.py). Used by the admin API's
routes as the `Auth` dependency.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from daemon.web import context
from daemon.web.errors import ApiError
from handlers.base import bearer_token


@dataclass(frozen=True)
class Principal:
    account: str | None  # None: the admin, who sees every account

    def may_see(self, account: str) -> bool:
        return self.account is None or self.account == account


def principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    token = bearer_token(authorization)
    if not token:
        raise ApiError(401, "unauthorized", "api.unauthorized.missing")
    settings = context.settings(request)
    if settings.is_admin_token(token):
        return Principal(None)
    name = settings.token_account(token)
    if name is None:
        raise ApiError(401, "unauthorized", "api.unauthorized.unknown")
    return Principal(name)


Auth = Annotated[Principal, Depends(principal)]
