"""What the console's tests share: users in the config, and logging in with httpx."""

from __future__ import annotations

import re

import httpx

from daemon.settings.passwords import hash_password

PASSWORD = "console-pass-1"
_HASH = hash_password(PASSWORD)
# admin sees everything; op runs acme; view reads acme; the beta pair sees beta only.
USERS = {
    "admin": ("admin", []),
    "op": ("operator", ["acme"]),
    "view": ("viewer", ["acme"]),
    "betaop": ("operator", ["beta"]),
}


def users_toml(users: dict[str, tuple[str, list[str]]] = USERS) -> str:
    lines = []
    for name, (role, accounts) in users.items():
        lines += [f"[users.{name}]", f'password_hash = "{_HASH}"', f'role = "{role}"']
        if accounts:
            lines.append("accounts = [" + ", ".join(f'"{a}"' for a in accounts) + "]")
    return "\n".join(lines) + "\n"


def login_token(client: httpx.Client) -> str:
    page = client.get("/console/login")
    assert page.status_code == 200, page.text
    return re.search(r'name="token" value="([^"]+)"', page.text).group(1)


def login(base_url: str, user: str, password: str = PASSWORD) -> httpx.Client:
    """An httpx client logged in to the console as `user` (redirects not followed)."""
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
    token = login_token(client)
    answer = client.post(
        "/console/login", data={"user": user, "password": password, "token": token}
    )
    assert answer.status_code == 303, answer.text
    return client


def csrf(client: httpx.Client, path: str = "/console/") -> str:
    """The CSRF token the session's forms carry, read from a page."""
    page = client.get(path)
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
