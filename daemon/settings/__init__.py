"""Settings: the TOML config as one typed model, its cross checks, secrets and listeners.

Read by the CLI and the master (load at start and reload); every other part gets a
`Settings` and never reads the file itself.
"""

from daemon.settings.listeners import is_loopback, listen_error, split_listen
from daemon.settings.loading import ConfigError, load, parse
from daemon.settings.model import (
    DEFAULT_CONFIG,
    WEEKDAYS,
    Account,
    ApiAccount,
    Column,
    FtpAccount,
    Layout,
    ParamEffect,
    Settings,
)
from daemon.settings.secrets import resolve_secret, secret_matches

__all__ = [
    "DEFAULT_CONFIG",
    "WEEKDAYS",
    "Account",
    "ApiAccount",
    "Column",
    "ConfigError",
    "FtpAccount",
    "Layout",
    "ParamEffect",
    "Settings",
    "is_loopback",
    "listen_error",
    "load",
    "parse",
    "resolve_secret",
    "secret_matches",
    "split_listen",
]
