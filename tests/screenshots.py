"""Screenshots of the console for the README: `make screenshots` (or
`.venv/bin/python -m tests.screenshots`) writes docs/console/*.png.

It starts a daemon on a scratch folder with three accounts and a few realistic runs
(mail and API; completed, failed with row errors, a dry run, one ignored), logs in as
admin with the system Chromium (locale ja-JP, 1280x800) and shoots every page, and the
runs list on a phone (390x844). Needs Chromium and a Japanese font (fonts-ipafont-gothic).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

from tests.console_support import PASSWORD, users_toml
from tests.support import (
    ROOT,
    Daemon,
    Relay,
    account,
    mail,
    queued_ids,
    send,
    send_as,
    write_config,
)

OUT = ROOT / "docs" / "console"
HEADER = "会員番号,売上日,売上金額,備考"
SALES = """
[layouts.sales]
columns = [
  { name = "member_no",    type = "int",  required = true, label = "会員番号" },
  { name = "date",         type = "date", required = true, label = "日付", aliases = ["売上日"] },
  { name = "sales_amount", type = "int",  max_digits = 13, label = "売上金額" },
  { name = "note",         type = "text", max_length = 3000, label = "備考" },
]
"""
FILENAMES = ["売上_{YYYYMMDD}.csv", "{YYYYMMDD}.csv"]
ACCOUNTS = (
    account(
        "acme",
        layout="sales",
        filename=FILENAMES,
        error_report_to=["system@acme.example"],
        success_report_to=["eigyo@acme.example"],
    )
    + '[accounts.acme.api]\ntoken = "demo-acme-token"\n'
    + '[accounts.acme.expect]\nweekdays = ["mon", "tue", "wed", "thu", "fri"]\nby = "10:00"\n'
    + account("beta", layout="sales", filename=FILENAMES, report="errors")
    + account("gamma", layout="sales", filename=FILENAMES, status="stopped")
)


def sales_csv(rows: list[str]) -> bytes:
    return ("\r\n".join([HEADER, *rows]) + "\r\n").encode("cp932")


def make_runs(daemon: Daemon) -> dict[str, str]:
    """Runs as a day of linkage leaves them; returns the failed run's id."""
    ids = {}
    for name, rows in [
        ("売上_20240513.csv", ["1001,2024/05/13,12800,店頭", "1002,2024/05/13,5400,通販"]),
        (
            "売上_20240514.csv",
            [
                "1001,2024/05/14,9800,店頭",
                "1003,2024/05/14,千二百,通販",
                "1004,2024/05/32,4300,店頭",
                ",2024/05/14,2100,会員番号なし",
                "1005,2024/05/14,12345678901234,桁あふれ",
            ],
        ),
    ]:
        _, _, reply = send(daemon.smtp_port, mail([(name, sales_csv(rows))]))
        ids[name] = daemon.wait_run(queued_ids(reply)[0])["id"]
    rows = [f"{2000 + n},2024/05/15,{1000 * n},支店{n}" for n in range(1, 9)]
    _, _, reply = send_as(daemon.smtp_port, "beta", [("20240515.csv", sales_csv(rows))])
    daemon.wait_run(queued_ids(reply)[0])
    # An API upload checked first: a dry run.
    answer = httpx.post(
        f"{daemon.api}/api/v1/imports?dry_run=true&wait=true",
        headers={"Authorization": "Bearer demo-acme-token"},
        files={"file": ("売上_20240515.csv", sales_csv(["1001,2024/05/15,7700,API"]))},
        timeout=60,
    )
    answer.raise_for_status()
    daemon.wait_run(answer.json()["id"])
    # gamma is stopped (連動稼働停止): its mail is recorded, not imported.
    _, _, reply = send_as(
        daemon.smtp_port, "gamma", [("20240516.csv", sales_csv(["3001,2024/05/16,6600,倉庫"]))]
    )
    daemon.wait_run(queued_ids(reply)[0])
    return ids


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise SystemExit(
            "no chromium on PATH (Debian: apt-get install chromium fonts-ipafont-gothic)"
        )
    return found


def shoot(page, name: str) -> None:
    page.screenshot(path=str(OUT / name), full_page=True)
    print(f"wrote {(OUT / name).relative_to(ROOT)}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    relay = Relay()
    relay.start()
    with tempfile.TemporaryDirectory(prefix="renkei-shots-") as scratch:
        folder = Path(scratch)
        config = write_config(folder, ACCOUNTS, SALES + users_toml(), relay_port=relay.port)
        daemon = Daemon(config).start()
        try:
            ids = make_runs(daemon)
            with sync_playwright() as playwright:
                args = ["--no-sandbox"] if os.geteuid() == 0 else []
                browser = playwright.chromium.launch(executable_path=chromium_path(), args=args)
                try:
                    pages(browser, daemon, ids["売上_20240514.csv"])
                finally:
                    browser.close()
        finally:
            daemon.terminate()
            relay.stop()


def log_in(browser, daemon: Daemon, viewport: dict[str, int], password: str = PASSWORD):
    context = browser.new_context(locale="ja-JP", base_url=daemon.api, viewport=viewport)
    page = context.new_page()
    page.goto("/console/login")
    page.get_by_label("ユーザー名").fill("admin")
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="ログイン").click()
    return page


def pages(browser, daemon: Daemon, failed: str) -> None:
    desktop = {"width": 1280, "height": 800}
    context = browser.new_context(locale="ja-JP", base_url=daemon.api, viewport=desktop)
    page = context.new_page()
    page.goto("/console/login")
    expect(page.get_by_role("button", name="ログイン")).to_be_visible()
    shoot(page, "login.png")
    context.close()
    # A mistyped password first, so the audit log shows one.
    log_in(browser, daemon, desktop, "wrong-password").context.close()

    page = log_in(browser, daemon, desktop)
    expect(page).to_have_url(re.compile(r"/console/$"))
    expect(page.locator("table.today")).to_be_visible()
    shoot(page, "home.png")
    page.goto("/console/runs")
    expect(page.locator("#runs-table tr[data-run]")).to_have_count(5)
    shoot(page, "runs.png")
    page.goto(f"/console/runs/{failed}")
    expect(page.locator("table.errors")).to_be_visible()
    shoot(page, "run.png")
    page.goto("/console/accounts")
    expect(page.locator("table.accounts")).to_be_visible()
    shoot(page, "accounts.png")
    page.goto("/console/accounts/acme")
    expect(page.locator("form.upload")).to_be_visible()
    shoot(page, "account.png")
    page.goto("/console/audit")
    expect(page.locator("table.audit")).to_be_visible()
    shoot(page, "audit.png")
    page.context.close()

    phone = log_in(browser, daemon, {"width": 390, "height": 844})
    phone.goto("/console/runs")
    expect(phone.locator("#runs-table tr[data-run]").first).to_be_visible()
    shoot(phone, "phone-runs.png")
    phone.context.close()


if __name__ == "__main__":
    sys.exit(main())
