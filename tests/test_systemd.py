"""The unit file says what the daemon does: notify, reload, check before start."""

from __future__ import annotations

import configparser

from tests.support import ROOT


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(ROOT / "systemd" / "renkei.service")
    return parser


def test_unit_is_notify_unprivileged_and_checks_its_config():
    service = unit()["Service"]
    assert service["Type"] == "notify"
    assert service["User"] == "renkei"
    assert service["StateDirectory"] == "renkei"
    assert service["ExecStartPre"].endswith("renkei check")
    assert service["ExecStart"].endswith("renkei serve")
    assert "-HUP" in service["ExecReload"]
    assert service["WatchdogSec"]
    assert service["NoNewPrivileges"] == "true" and service["ProtectSystem"] == "strict"


def test_a_store_too_new_is_not_restarted_in_a_loop():
    # renkei exits 3 when its store was written by a newer renkei (test_store_versions.py):
    # restarting it every RestartSec would only fail again.
    from daemon.cli import EXIT_STORE_TOO_NEW

    service = unit()["Service"]
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"].split() == [str(EXIT_STORE_TOO_NEW)]


def test_a_stop_signals_renkei_serve_alone_as_the_tests_stop_it():
    # Daemon.terminate() (tests/support.py) sends SIGTERM to renkei serve only, which
    # stops its import process and readers: what every test's clean stop checks. With
    # systemd's default, each process got it at once, the import process twice.
    service = unit()["Service"]
    assert service["KillSignal"] == "SIGTERM" and service["KillMode"] == "mixed"
