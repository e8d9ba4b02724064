"""Settings: the TOML config as one typed model, its cross checks and warnings, secrets
and listeners; each problem a Problem, said in either language.

Read by the CLI and the master (load at start and reload); every other part gets a
`Settings` and never reads the file itself.
"""

from daemon.settings.checks import check_warnings
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
from daemon.settings.problems import Problem
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
    "Problem",
    "Settings",
    "check_warnings",
    "is_loopback",
    "listen_error",
    "load",
    "parse",
    "resolve_secret",
    "secret_matches",
    "split_listen",
]
