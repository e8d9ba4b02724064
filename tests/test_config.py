"""Config: every problem reported with its key path; the model and the example agree."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from daemon.settings import ConfigError, Settings, load, parse
from tests import support
from tests.support import ROOT

EXAMPLE = ROOT / "config" / "renkei.example.toml"
LAYOUTS = {"p": {"columns": [{"name": "a"}]}}


def problems(raw: dict) -> list[str]:
    """Each problem as the daemon logs it: in English."""
    with pytest.raises(ConfigError) as info:
        parse(raw)
    return [str(problem) for problem in info.value.problems]


renkei = functools.partial(support.renkei, timeout=60)


def test_example_config_is_valid_as_shipped():
    settings = load(EXAMPLE)
    assert settings.accounts["acme"].mail.address == "acme@in.example.jp"
    assert settings.data_dir == (ROOT / "var").resolve()


def test_renkei_check_accepts_the_example():
    result = renkei("check", "--config", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "問題ありません" in result.stdout


def _model_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        if name == "source":
            continue
        key = prefix + (field.alias or name)
        keys.add(key)
        annotation = field.annotation
        for candidate in getattr(annotation, "__args__", (annotation,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                keys |= _model_keys(candidate, key + ".")
    return keys


def _example_keys(table: dict, prefix: str = "") -> set[str]:
    keys = set()
    for name, value in table.items():
        if prefix in ("layouts.", "accounts."):
            name, key = "*", prefix + "*"
        else:
            key = prefix + name
        keys.add(key)
        if isinstance(value, dict):
            keys |= _example_keys(value, key + ".")
    return keys


def test_every_model_key_is_in_the_example_and_no_other():
    model = _model_keys(Settings)
    model = {k for k in model if not k.startswith(("layouts", "accounts"))}
    text = EXAMPLE.read_text(encoding="utf-8")
    example = _example_keys(tomllib.loads(text))
    commented = {"ftp.tls_cert", "ftp.tls_key", "api.admin_token_sha256"}
    missing = {k for k in model - example - commented if k.split(".")[-1] not in text}
    assert not missing, f"keys the example does not show: {missing}"
    for key in commented:
        assert f"# {key.split('.')[-1]} = " in text
    from daemon.settings import Account

    account_keys = _model_keys(Account)
    for key in account_keys:
        assert key.split(".")[-1] in text, f"accounts.*.{key} not in the example"


def test_unknown_keys_are_errors():
    found = problems(
        {
            "daemon": {"data_dri": "x"},
            "layouts": LAYOUTS,
            "accounts": {"a": {"layout": "p", "colour": "red"}},
        }
    )
    assert "daemon.data_dri: unknown key; did you mean data_dir?" in found
    assert "accounts.a.colour: unknown key" in found  # nothing near enough to suggest


def test_wrong_type_names_key_and_value():
    found = problems({"limits": {"max_rows": "many"}})
    assert any(p.startswith("limits.max_rows: 'many'") for p in found), found


def test_unknown_layout_named_by_an_account():
    found = problems({"layouts": LAYOUTS, "accounts": {"a": {"layout": "missing"}}})
    assert found == ["accounts.a.layout: 'missing' is not a layout ([layouts.missing] is missing)"]


def test_same_mail_address_on_two_accounts():
    mail = {"address": "Same@in.example.jp"}
    found = problems(
        {
            "layouts": LAYOUTS,
            "accounts": {
                "a": {"layout": "p", "mail": mail},
                "b": {"layout": "p", "mail": {"address": "same@in.example.jp"}},
            },
        }
    )
    assert found == [
        "accounts.b.mail.address: 'same@in.example.jp' is also the address of accounts.a"
    ]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("interval", "7m", "accounts.a.ftp.interval: '7m' is not one of 5m, 10m, 15m, 30m, 1h, 2h"),
        ("window", "9-18", "accounts.a.ftp.window: '9-18' is not a window like 09:00-18:00"),
        (
            "window",
            "09:00-25:00",
            "accounts.a.ftp.window: '09:00-25:00' is not a window like 09:00-18:00",
        ),
        (
            "delay",
            "3 minutes",
            "accounts.a.ftp.delay: '3 minutes' is not a delay in minutes like 3m (under 120m)",
        ),
    ],
)
def test_bad_schedule_values(key, value, expected):
    found = problems(
        {"layouts": LAYOUTS, "accounts": {"a": {"layout": "p", "ftp": {"user": "a", key: value}}}}
    )
    assert found == [expected]


def test_env_secret_whose_variable_is_unset(monkeypatch):
    monkeypatch.delenv("RENKEI_TEST_UNSET", raising=False)
    found = problems({"api": {"admin_token": "env:RENKEI_TEST_UNSET"}})
    assert found == ["api.admin_token: environment variable RENKEI_TEST_UNSET is not set"]
    monkeypatch.setenv("RENKEI_TEST_UNSET", "s3cret")
    assert parse({"api": {"admin_token": "env:RENKEI_TEST_UNSET"}}).api.admin_token


def test_demo_secret_refused_beyond_loopback():
    found = problems({"smtp": {"listen": "0.0.0.0:2525"}, "api": {"admin_token": "demo-x"}})
    assert found == [
        "api.admin_token: a demo secret is allowed only while every listener is on "
        "loopback (smtp.listen = '0.0.0.0:2525')"
    ]


def test_renkei_check_lists_every_problem_and_exits_1(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(
        '[limits]\nmax_rows = "many"\n[layouts.p]\ncolumns = [{ name = "a" }]\n'
        '[accounts.a]\nlayout = "nope"\n[accounts.a.mail]\naddress = "x@y.jp"\n'
        '[accounts.b]\nlayout = "p"\n[accounts.b.mail]\naddress = "x@y.jp"\n'
        '[accounts.b.ftp]\nuser = "b"\ninterval = "7m"\npassword = "env:RENKEI_NOPE"\n'
    )
    result = renkei("check", "--config", str(config))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("limits.max_rows:") for line in lines)
    assert any(line.startswith("accounts.a.layout:") for line in lines)
    assert any(line.startswith("accounts.b.mail.address:") for line in lines)
    assert any(line.startswith("accounts.b.ftp.interval:") for line in lines)
    # In the config's language, Japanese by default.
    assert "accounts.b.ftp.password: 環境変数 RENKEI_NOPE が設定されていません" in lines
    assert "Traceback" not in result.stderr


def test_renkei_check_reports_broken_toml_and_missing_file(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[daemon\n")
    english = {"LC_ALL": "", "LC_MESSAGES": "", "LANG": "en_US.UTF-8"}  # no config to ask
    result = renkei("check", "--config", str(broken), env=english)
    assert result.returncode == 1 and f"{broken}: not valid TOML: " in result.stderr
    absent = tmp_path / "absent.toml"
    result = renkei("check", "--config", str(absent), env=english)
    assert result.returncode == 1 and f"{absent}: no such config file" in result.stderr


def test_config_path_from_environment(tmp_path):
    result = renkei("check", env={"RENKEI_CONFIG": str(EXAMPLE)})
    assert result.returncode == 0


def test_serve_refuses_a_demo_secret_on_a_public_listener(tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8").replace('"127.0.0.1:8080"', '"0.0.0.0:8080"')
    config = tmp_path / "public.toml"
    config.write_text(text, encoding="utf-8")
    result = renkei("serve", "--config", str(config))
    assert result.returncode == 1
    said = "デモ用の秘密情報は、すべてのリスナーがループバックにある間だけ使えます"
    assert f"api.admin_token: {said}(api.listen = '0.0.0.0:8080')" in result.stderr


def test_relative_paths_are_relative_to_the_config(tmp_path: Path):
    config = tmp_path / "sub" / "renkei.toml"
    config.parent.mkdir()
    config.write_text('[daemon]\ndata_dir = "data"\n')
    assert load(config).data_dir == (tmp_path / "sub" / "data").resolve()


def test_readme_documents_every_key():
    from daemon.settings import Account, Column
    from daemon.settings.model import User

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    from daemon.settings.model import Call, Send

    named = ("layouts", "accounts", "users", "sends", "calls")
    keys = {k for k in _model_keys(Settings) if not k.startswith(named)}
    keys |= {f"accounts.NAME.{k}" for k in _model_keys(Account)}
    keys |= {f"users.NAME.{k}" for k in _model_keys(User)}
    keys |= {f"sends.NAME.{k}" for k in _model_keys(Send)}
    keys |= {f"calls.NAME.{k}" for k in _model_keys(Call)}
    keys |= {f"layouts.NAME.columns[].{k}" for k in _model_keys(Column)}
    parents = {k.rsplit(".", 1)[0] for k in keys}
    readme = readme.replace("`ftp.tls_cert`, `ftp.tls_key`", "`ftp.tls_cert` `ftp.tls_key`")
    missing = [k for k in keys if k not in parents and f"`{k}`" not in readme]
    assert not missing, missing


@pytest.mark.parametrize(
    ("name", "why"), [("runs", "renkei's own tables"), ("my-table", "table name")]
)
def test_layout_names_must_be_usable_table_names(name, why):
    found = problems({"layouts": {name: {"columns": [{"name": "a"}]}}})
    assert len(found) == 1 and found[0].startswith(f"layouts.{name}:") and why in found[0]


def test_api_shapes_and_modes_are_checked_with_their_keys():
    found = problems(
        {
            "layouts": LAYOUTS
            | {"keyed": {"key": ["nope"], "columns": [{"name": "a", "reference": "missing"}]}},
            "accounts": {
                "a": {"layout": "p", "mode": "upsert", "api": {"token_header": "X-Token"}},
                "b": {
                    "layout": "p",
                    "api": {
                        "path": "/api/v1/runs/x",
                        "params": {"kind": {"0": {"layout": "ghost"}}},
                    },
                },
            },
        }
    )
    text = "\n".join(found)
    assert "layouts.keyed.key: 'nope' is not a column" in text
    assert "layouts.keyed.columns.0.reference: 'missing' is not a layout" in text
    assert "accounts.a.mode: 'upsert' needs key columns" in text
    assert "accounts.a.api.token_header:" in text
    assert "accounts.b.api.params.kind.0.layout: 'ghost' is not a layout" in text
    assert "accounts.b.api.path: '/api/v1/runs/x' is one of renkei's own paths" in text


@pytest.mark.parametrize("name", ["..", ".hidden", "a/b", "..\\x", "a\tb", " ", "x" * 65])
def test_account_names_must_be_usable_folder_names(name):
    """An account's FTP home is data_dir/ftp/NAME: `..` made its check spool the
    daemon's own renkei.db as a partner's files."""
    found = problems({"layouts": LAYOUTS, "accounts": {name: {"layout": "p"}}})
    assert len(found) == 1 and found[0].startswith(f"accounts.{name}:"), found
    assert "cannot be an account name" in found[0]


def test_an_account_named_in_japanese_is_a_usable_name():
    assert "営業" in parse({"layouts": LAYOUTS, "accounts": {"営業": {"layout": "p"}}}).accounts


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"layouts": {"p": {"columns": [{"name": "a", "type": "dat"}]}}},
            "layouts.p.columns.0.type: 'dat' is not one of text, int, decimal, date,"
            " datetime, bool, choice; did you mean date?",
        ),
        (
            {"layouts": LAYOUTS, "accounts": {"a": {"layout": "p", "mode": "replace"}}},
            "accounts.a.mode: 'replace' is not one of replace_file, insert, upsert, delete,"
            " set; did you mean replace_file?",
        ),
        (
            {"layouts": LAYOUTS, "accounts": {"a": {"layout": "p", "status": "paused"}}},
            "accounts.a.status: 'paused' is not one of active, stopped",
        ),
        (
            {
                "layouts": LAYOUTS,
                "accounts": {"a": {"layout": "p", "expect": {"weekdays": ["tues"], "by": "10:00"}}},
            },
            "accounts.a.expect.weekdays: 'tues' is not one of mon, tue, wed, thu, fri, sat, sun;"
            " did you mean tue?",
        ),
        (  # mon or sun: as likely, so neither is named
            {
                "layouts": LAYOUTS,
                "accounts": {"a": {"layout": "p", "expect": {"weekdays": ["mun"], "by": "10:00"}}},
            },
            "accounts.a.expect.weekdays: 'mun' is not one of mon, tue, wed, thu, fri, sat, sun",
        ),
    ],
)
def test_a_value_not_listed_names_the_choice_it_most_likely_meant(raw, expected):
    assert problems(raw) == [expected]
