"""One language per user: API errors, CLI output and FTP replies follow `report.language`
from the one catalog, with the same error codes in both; SMTP and FTP replies stay ASCII
unless the client turned UTF-8 on."""

from __future__ import annotations

import ftplib
import io
import smtplib

import httpx
import pytest

from handlers import smtp
from tests.support import Daemon, account, csv_bytes, renkei, write_config
from tests.test_ftp import ftp_config

ACME = {"Authorization": "Bearer demo-acme-token"}
ADMIN = {"Authorization": "Bearer demo-admin"}
CSV = csv_bytes(["1,2024/05/16,10,a"])


def in_language(config, language: str):
    text = config.read_text(encoding="utf-8")
    text = text.replace(
        'from = "renkei@example.jp"', f'from = "renkei@example.jp"\nlanguage = "{language}"'
    )
    config.write_text(text, encoding="utf-8")
    return config


@pytest.fixture(scope="module", params=["ja", "en"])
def daemon(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"language-{request.param}")
    config, port = ftp_config(folder, '[accounts.acme.api]\ntoken = "demo-acme-token"\n')
    d = Daemon(in_language(config, request.param)).start()
    d.ftp_port = port
    d.language = request.param
    yield d
    assert d.terminate() == 0


def said(daemon, ja: str, en: str) -> str:
    return ja if daemon.language == "ja" else en


# -- HTTP API ----------------------------------------------------------------------------


def test_an_unmapped_parameter_is_422_in_the_daemons_language(daemon):
    reply = httpx.post(
        f"{daemon.api}/api/v1/imports",
        headers=ACME,
        files={"file": ("20240516.csv", CSV)},
        data={"colour": "red"},
        timeout=30,
    )
    assert reply.status_code == 422
    assert reply.json() == {
        "error": "unknown_parameter",
        "message": said(
            daemon,
            "このアカウントに対応付けのないパラメーターです: colour",
            "parameters this account does not map: colour",
        ),
    }


@pytest.mark.parametrize("path", ["/api/v1/imports", "/api/v1/runs"])
def test_a_missing_token_is_401_in_the_daemons_language(daemon, path):
    method = httpx.post if path.endswith("imports") else httpx.get
    reply = method(f"{daemon.api}{path}", timeout=30)
    assert reply.status_code == 401
    assert reply.json() == {
        "error": "unauthorized",
        "message": said(
            daemon, "Bearer トークンがありません(Authorization: Bearer …)", "missing bearer token"
        ),
    }


def test_a_validation_error_is_422_in_the_daemons_language(daemon):
    reply = httpx.get(f"{daemon.api}/api/v1/runs", params={"limit": "0"}, headers=ADMIN)
    assert reply.status_code == 422
    assert reply.json() == {
        "error": "invalid_request",
        "message": said(
            daemon,
            "リクエストが正しくありません: query.limit: '0' は 1 以上にしてください",
            "the request is not valid: query.limit: '0' is less than 1",
        ),
    }
    # renkei's own flags are read as an account's own path reads them: a refusal of its own.
    reply = httpx.post(f"{daemon.api}/api/v1/imports", params={"wait": "maybe"}, headers=ACME)
    assert reply.status_code == 422 and reply.json()["error"] == "bad_query"
    assert (
        said(daemon, "'maybe' は true / false ではありません", "'maybe' is not true or false")
        in (reply.json()["message"])
    )


def test_not_found_and_wrong_method_in_the_daemons_language(daemon):
    reply = httpx.get(f"{daemon.api}/api/v1/runs/nope", headers=ADMIN)
    assert reply.status_code == 404
    assert reply.json() == {
        "error": "not_found",
        "message": said(daemon, "実行 nope はありません", "no run nope"),
    }
    reply = httpx.delete(f"{daemon.api}/api/v1/runs", headers=ADMIN)
    assert reply.status_code == 405
    assert reply.json() == {
        "error": "method_not_allowed",
        "message": said(
            daemon,
            "/api/v1/runs に DELETE は使えません",
            "method DELETE is not allowed on /api/v1/runs",
        ),
    }


def test_accept_language_picks_the_language_of_one_request(daemon):
    for header, expected in [
        ("en-US,en;q=0.9", "missing bearer token"),
        ("ja", "Bearer トークンがありません(Authorization: Bearer …)"),
        ("fr, en;q=0.5", "missing bearer token"),
    ]:
        reply = httpx.get(f"{daemon.api}/api/v1/runs", headers={"Accept-Language": header})
        assert reply.json() == {"error": "unauthorized", "message": expected}
    reply = httpx.get(f"{daemon.api}/api/v1/runs", headers={"Accept-Language": "fr"})
    assert reply.json()["message"] == said(
        daemon, "Bearer トークンがありません(Authorization: Bearer …)", "missing bearer token"
    )


def test_a_reload_changes_the_language_of_the_api(tmp_path):
    config = in_language(write_config(tmp_path, ""), "ja")
    daemon = Daemon(config).start()
    try:
        reply = httpx.get(f"{daemon.api}/api/v1/runs")
        assert reply.json()["message"] == "Bearer トークンがありません(Authorization: Bearer …)"
        daemon.notify.received.clear()
        config.write_text(config.read_text().replace('language = "ja"', 'language = "en"'))
        daemon.notify.wait_for("RELOADING=1")
        daemon.notify.wait_for("READY=1")
        reply = httpx.get(f"{daemon.api}/api/v1/runs")
        assert reply.json() == {"error": "unauthorized", "message": "missing bearer token"}
    finally:
        assert daemon.terminate() == 0


# -- FTP ---------------------------------------------------------------------------------


def ftp_login(daemon, password: str = "demo-acme-ftp") -> ftplib.FTP:
    ftp = ftplib.FTP(encoding="utf-8")
    ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
    ftp.login("acme", password)
    return ftp


def refused_store(ftp: ftplib.FTP, name: str) -> str:
    with pytest.raises(ftplib.error_perm) as info:
        ftp.storbinary(f"STOR {name}", io.BytesIO(CSV))
    return str(info.value)


def test_ftp_553_is_ascii_english_until_opts_utf8_on(daemon):
    with ftp_login(daemon) as ftp:
        reply = refused_store(ftp, "売上.csv")
        assert reply.startswith("553 ") and reply.isascii(), reply
        assert "breaks the rule" in reply and "YYYYMMDD.csv" in reply
        assert refused_store(ftp, "2024-05-16.csv").isascii()
        assert ftp.sendcmd("OPTS UTF8 ON").startswith("200")
        reply = refused_store(ftp, "売上.csv")
        assert reply.startswith("553 ")
        assert said(
            daemon, "ファイル名「売上.csv」は規則に合いません", "'売上.csv' breaks the rule"
        ) in (reply)


def test_ftp_stock_replies_follow_the_language_after_opts_utf8_on(daemon):
    """pyftpdlib's own replies, not only renkei's: the 226 of an upload, a name that is
    not there, a rename."""
    with ftp_login(daemon) as ftp:
        assert ftp.voidcmd("TYPE I") == "200 Type set to: Binary."  # ASCII English first
        reply = ftp.sendcmd("OPTS UTF8 ON")
        assert reply == said(daemon, "200 UTF-8 で応答します。", "200 Always in UTF8 mode.")
        reply = ftp.storbinary("STOR 20240520.csv", io.BytesIO(CSV))
        assert reply == said(daemon, "226 転送が完了しました。", "226 Transfer complete.")
        with pytest.raises(ftplib.error_perm) as info:
            ftp.delete("20991231.csv")
        words = said(
            daemon, "そのファイルまたはフォルダはありません。", "No such file or directory."
        )
        assert str(info.value) == f"550 {words}"
        assert ftp.rename("20240520.csv", "20240521.csv") == said(
            daemon, "250 名前を変更しました。", "250 Renaming ok."
        )
        ftp.delete("20240521.csv")


def test_ftp_login_failure_is_ascii(daemon):
    with pytest.raises(ftplib.error_perm) as info:
        ftp_login(daemon, password="wrong")
    assert str(info.value).startswith("530 ") and str(info.value).isascii()


# -- SMTP --------------------------------------------------------------------------------


def test_smtp_replies_are_ascii_in_every_language(daemon):
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=10) as s:
        s.ehlo()
        assert s.mail("export@acme.example")[0] == 250
        code, reply = s.rcpt("nobody@in.example.jp")
    assert code == 550 and reply.startswith(b"5.1.1") and reply.isascii()
    constants = [v for k, v in vars(smtp).items() if k.startswith("S") and isinstance(v, str)]
    assert len(constants) > 8 and all(v.isascii() for v in constants)


# -- CLI ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "heading", "said"),
    [
        ("ja", "設定に 1 件の問題があります:", "不明なキーです。daemon の誤りではありませんか?"),
        ("en", "the config has 1 problem:", "unknown key; did you mean daemon?"),
    ],
)
def test_check_of_a_broken_config_speaks_its_language(tmp_path, language, heading, said):
    config = in_language(write_config(tmp_path, ""), language)
    config.write_text(config.read_text() + "\n[daemon2]\nx = 1\n")
    result = renkei("check", "--config", str(config))
    assert result.returncode == 1
    first, problem = result.stderr.strip().splitlines()
    assert first == f"{config}: {heading}"
    assert problem == f"daemon2: {said}"  # the key path first, then what is wrong


@pytest.mark.parametrize(
    ("locale", "heading"),
    [("en_US.UTF-8", "the config has 1 problem:"), ("C.UTF-8", "設定に 1 件の問題があります:")],
)
def test_an_unreadable_config_speaks_the_locales_language(tmp_path, locale, heading):
    broken = tmp_path / "broken.toml"
    broken.write_text("[daemon\n")
    env = {"LC_ALL": "", "LC_MESSAGES": "", "LANG": locale}
    result = renkei("check", "--config", str(broken), env=env)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"{broken}: {heading}"


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("ja", ["問題ありません", "1 行にエラー", "'nobody' は設定にあるアカウントではありません"]),
        ("en", ["ok (1 account", "1 row with errors", "'nobody' is not an account"]),
    ],
)
def test_the_cli_speaks_the_configs_language(tmp_path, language, words):
    ok, bad_file, unknown_account = words
    config = in_language(write_config(tmp_path, account("acme")), language)
    assert ok in renkei("check", "--config", str(config)).stdout
    path = tmp_path / "20240516.csv"
    path.write_bytes(csv_bytes(["x,2024/05/16,10,a"]))
    result = renkei("import", str(path), "--account", "acme", "--config", str(config))
    assert result.returncode == 1 and bad_file in result.stdout, result.stdout
    as_json = renkei("import", str(path), "--account", "acme", "--json", "--config", str(config))
    assert '"state": "failed"' in as_json.stdout  # machine output: the same keys and codes
    result = renkei("import", str(path), "--account", "nobody", "--config", str(config))
    assert result.returncode == 2 and unknown_account in result.stderr


def test_english_counts_one_apart_from_many():
    from importers.messages import message

    assert message("run.rejected", "en", failed=1) == "1 row with errors: no row was imported"
    assert (
        message("run.rejected", "en", failed=1200) == "1,200 rows with errors: no row was imported"
    )
    assert (
        message("run.rejected", "ja", failed=1)
        == "1 行にエラーがあるため、1行も取り込みませんでした"
    )
    said = message("cli.sweep.done", "en", runs=1, before="x", files=2, mails=0, days=1)
    assert (
        said
        == "removed 1 run finished before x (2 received files) and 0 failed report mails (keeping 1 day)"
    )
