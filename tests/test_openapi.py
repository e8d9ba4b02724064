"""The OpenAPI document against the real daemon: schemathesis finds no 500 and no
response that breaks the schema."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.support import Daemon, account, served, write_config

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.mark.slow
@pytest.mark.parametrize("token", ["demo-admin", "demo-acme-token"])
def test_schemathesis_finds_no_server_error_and_no_schema_break(tmp_path, token):
    config = write_config(
        tmp_path, account("acme") + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    )
    fuzz(config, f"Authorization: Bearer {token}")


@pytest.mark.slow
def test_schemathesis_on_an_accounts_own_path(tmp_path):
    """The expense example's /api/v1/csvimport, in its own shape and token header."""
    config = served("expense.example.toml", tmp_path)
    fuzz(config, "X-RS-apitoken: demo-expense-token", "--include-path", "/api/v1/csvimport")


def fuzz(config, header: str, *more: str) -> None:
    st = shutil.which("schemathesis", path=str(sys.executable).rsplit("/", 1)[0])
    if st is None:
        pytest.skip("schemathesis is not installed")
    daemon = Daemon(config).start()
    try:
        result = subprocess.run(
            [
                st,
                "run",
                f"{daemon.api}/openapi.json",
                "-H",
                header,
                *more,
                "--checks",
                CHECKS,
                "--max-examples",
                "25",
                "--seed",
                "20240516",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=config.parent,
        )
        assert result.returncode == 0, result.stdout[-4000:]
        assert "Tested: 0" not in result.stdout, result.stdout[-4000:]
        assert "Traceback" not in daemon.log.read_text()
    finally:
        daemon.terminate()
