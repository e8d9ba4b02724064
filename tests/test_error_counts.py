"""How many row errors a run has, said truthfully and alike by `renkei import`, `renkei
show` and the report mail; and a file whose every row failed (on_row_error = "skip")
said to have imported nothing, not to have been imported in part.

The store keeps a run's first 1,000 errors (importers.errors.ERRORS_KEPT) and a row may
have several: here each bad row has three (member_no, date, sales_amount).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import account, cli_import, renkei, write_config

HEADER = "member_no,date,sales_amount,note"
OPS = "ops@acme.example"  # error_report_to


@pytest.fixture
def config(tmp_path, relay) -> Path:
    return write_config(tmp_path, account("acme", on_row_error="skip"), relay_port=relay.port)


def csv_of(folder: Path, name: str, bad: int, good: int = 0) -> Path:
    """`bad` rows of three errors each, then `good` rows that import."""
    rows = [f"x{n},bad,y," for n in range(bad)]
    rows += [f"{n},2024-05-01,100," for n in range(1, good + 1)]
    path = folder / name
    path.write_text("\r\n".join([HEADER, *rows]) + "\r\n", encoding="utf-8")
    return path


def imported(config: Path, path: Path) -> str:
    result = renkei("import", str(path), "--account", "acme", "--config", str(config))
    assert result.returncode == 0, result.stderr
    return result.stdout


def shown(config: Path, run_id: str) -> str:
    result = renkei("show", run_id, "--config", str(config))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_more_errors_than_the_store_keeps_are_said_as_at_least_that_many(tmp_path, relay, config):
    """400 rows of 3 errors: 1,200 errors, of which the store keeps 1,000. Neither "of
    1000" (the errors kept, said as all) nor "of 400" (the rows)."""
    out = imported(config, csv_of(tmp_path, "20240501.csv", bad=400))
    assert "エラー(先頭 20 件 / 1,000 件以上):" in out, out
    assert "…ほか 980 件以上" in out, out
    assert "全 1000 件" not in out and "全 400 件" not in out
    body = relay.for_recipient(OPS, about="20240501.csv")[0].get_body().get_content()
    assert "エラー(先頭 20 件 / 1,000 件以上):" in body, body
    assert "全 400 件" not in body
    run = cli_import(config, csv_of(tmp_path, "20240502.csv", bad=400))
    assert "エラー(先頭 20 件 / 1,000 件以上):" in shown(config, run["id"])


def test_fewer_errors_than_kept_are_counted_as_errors_not_rows(tmp_path, relay, config):
    """30 bad rows of 3 errors, 5 good rows: 90 errors on every surface (not 30)."""
    out = imported(config, csv_of(tmp_path, "20240503.csv", bad=30, good=5))
    assert "エラー(先頭 20 件 / 全 90 件):" in out, out
    assert "…ほか 70 件\n" in out and "件以上" not in out
    [report] = relay.for_recipient(OPS, about="20240503.csv")
    body = report.get_body().get_content()
    assert "エラー(先頭 20 件 / 全 90 件):" in body, body
    # Some rows went in: "part of the file" is true here.
    assert report["Subject"].startswith("[renkei] 一部取込: acme 20240503.csv")
    assert "ファイルの一部を取り込みました" in body


def test_a_file_whose_every_row_failed_is_said_to_have_imported_nothing(tmp_path, relay, config):
    imported(config, csv_of(tmp_path, "20240504.csv", bad=4))
    [report] = relay.for_recipient(OPS, about="20240504.csv")
    body = report.get_body().get_content()
    assert report["Subject"] == "[renkei] 取込なし: acme 20240504.csv (全 4 行エラー)"
    assert "ファイルの行を 1 行も取り込んでいません。すべての行にエラーがありました。" in body
    assert "一部" not in report["Subject"] and "ファイルの一部を取り込みました" not in body
    assert "エラー(先頭 12 件 / 全 12 件):" in body
