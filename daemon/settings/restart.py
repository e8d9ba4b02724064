"""The keys a reload cannot change: read once, when the daemon starts.

Listeners are bound, the store opened and data_dir's folders taken at start; a reload
that changed them would serve half old, half new (the run in the old data_dir, its error
CSV in the new). So the master keeps serving these as they were, and logs each one that
changed as needing a restart. Called by the master at each reload.
"""

from __future__ import annotations

from typing import Any

from daemon.settings.model import Settings

# Section → its keys read at start only. The other keys of [api] (admin_token) are read
# at each request, every key of [report] at each delivery.
RESTART_KEYS: dict[str, tuple[str, ...]] = {
    "daemon": ("data_dir",),
    "store": ("url", "instance"),
    "smtp": (
        "enabled",
        "listen",
        "hostname",
        "max_message_bytes",
        "max_connections",
        "max_connections_per_address",
        "timeout",
        "min_data_rate",
        "tls_cert",
        "tls_key",
        "require_tls",
        "proxy_protocol",
    ),
    "ftp": (
        "enabled",
        "listen",
        "passive_ports",
        "max_login_failures",
        "ban_minutes",
        "max_connections",
        "max_connections_per_address",
        "tls_cert",
        "tls_key",
        "require_tls",
    ),
    "api": ("enabled", "listen", "tls_cert", "tls_key", "forwarded_allow_ips", "client_timeout"),
}


def keep_started(served: Settings, new: Settings) -> tuple[Settings, list[str]]:
    """`new` with every restart key as `served` has it, and the keys (`smtp.listen`)
    whose value in `new` differs: those take effect at the next start."""
    changed: list[str] = []
    sections: dict[str, Any] = {}
    for section, keys in RESTART_KEYS.items():
        old, fresh = getattr(served, section), getattr(new, section)
        differ = [key for key in keys if _value(served, old, key) != _value(new, fresh, key)]
        changed += [f"{section}.{key}" for key in differ]
        kept = {key: getattr(old, key) for key in keys}
        if section == "daemon":
            # Relative to the config's folder: kept as the folder it resolved to.
            kept["data_dir"] = served.data_dir
        sections[section] = fresh.model_copy(update=kept)
    return new.model_copy(update=sections), changed


def _value(settings: Settings, section: Any, key: str) -> Any:
    value = getattr(section, key)
    # Paths compare as the folders or files they name, not as written.
    return settings.path(value) if key in ("data_dir", "tls_cert", "tls_key") and value else value
