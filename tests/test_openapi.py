"""The OpenAPI document against the real daemon: schemathesis finds no 500 and no
response that breaks the schema."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.support import Daemon, account, write_config

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.mark.slow
@pytest.mark.parametrize("token", ["demo-admin", "demo-acme-token"])
def test_schemathesis_finds_no_server_error_and_no_schema_break(tmp_path, token):
    st = shutil.which("schemathesis", path=str(sys.executable).rsplit("/", 1)[0])
    if st is None:
        pytest.skip("schemathesis is not installed")
    config = write_config(
        tmp_path, account("acme") + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    )
    daemon = Daemon(config).start()
    try:
        result = subprocess.run(
            [
                st,
                "run",
                f"{daemon.api}/openapi.json",
                "-H",
                f"Authorization: Bearer {token}",
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
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stdout[-4000:]
        assert "Traceback" not in daemon.log.read_text()
    finally:
        daemon.terminate()
