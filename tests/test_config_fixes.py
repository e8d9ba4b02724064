"""What `renkei check` let through and the daemon then stumbled on: delays of `inf`,
port 0, a folder that cannot be made, an empty `env:` secret; and what it said wrong: a
monthly day's message at keys that do not exist, a column name's rule."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support import Daemon, account, renkei, unwritable, write_config


def check(config: Path, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    result = renkei("check", "--config", str(config), env=env, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stderr.splitlines()[1:]


def config_with(folder: Path, *swaps: tuple[str, str], extra: str = "", more: str = "") -> Path:
    """The tests' config, English, with `swaps` made in its text and `more` at its end."""
    config = write_config(folder, account("acme"), extra='language = "en"\n' + extra)
    text = config.read_text()
    for old, new in swaps:
        assert old in text, old
        text = text.replace(old, new, 1)
    config.write_text(text + more)
    return config


# -- 2. delays of inf ----------------------------------------------------------------------


SEND = '[sends.s]\nlayout = "performance"\nurl = "https://e.example/in"\n'


@pytest.mark.parametrize(
    ("key", "value", "limit"),
    [
        ("report.retry_seconds", "inf", 86400),
        ("report.max_retry_seconds", "1e300", 86400),
        ("report.timeout", "inf", 3600),
        ("sends.s.timeout", "inf", 3600),
        ("sends.s.retry_seconds", "1e300", 86400),
        ("sends.s.max_retry_seconds", "inf", 86400),
        ("calls.c.max_retry_seconds", "inf", 86400),
    ],
)
def test_a_delay_of_inf_is_refused_with_its_limit(tmp_path, key, value, limit):
    """Passed, and a report mail was queued with "next_try": Infinity, never sent."""
    section, name = key.rsplit(".", 1)
    swaps, more = [], ""
    if section == "report":
        defaults = {"retry_seconds": "0.5", "max_retry_seconds": "1", "timeout": "5"}
        swaps.append((f"{name} = {defaults[name]}\n", f"{name} = {value}\n"))
    elif section == "sends.s":
        more = SEND + f"{name} = {value}\n"
    else:
        more = (
            f'[calls.c]\nafter_import = ["acme"]\nurl = "https://e.example/c"\n{name} = {value}\n'
        )
    code, said = check(config_with(tmp_path, *swaps, more=more))
    shown = "inf" if value == "inf" else "1e+300"
    assert (code, said) == (1, [f"{key}: {shown} is more than {limit}, the most allowed"])


def test_delays_within_the_limits_are_taken(tmp_path):
    more = SEND + "timeout = 3600\nretry_seconds = 86400\nmax_retry_seconds = 86400\n"
    config = config_with(tmp_path, ("timeout = 5\n", "timeout = 3600\n"), more=more)
    assert check(config)[0] == 0


# -- 3. port 0 -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["smtp.listen", "api.listen", "report.relay"])
def test_port_0_is_refused(tmp_path, key):
    """A listener on port 0 listened on whatever port the system picked."""
    section = key.split(".")[0]
    config = write_config(tmp_path, account("acme"), extra='language = "en"\n')
    text = config.read_text()
    start = text.index(f"[{section}]")
    field = key.split(".")[1] + ' = "127.0.0.1:'
    at = text.index(field, start) + len(field)
    end = text.index('"', at)
    config.write_text(text[:at] + "0" + text[end:])
    code, said = check(config)
    assert (code, said) == (
        1,
        [
            f"{key}: '127.0.0.1:0': port 0 cannot be used; give a port of 1 to 65535 (with 0"
            " the system picks any free port, and no one knows where to connect)"
        ],
    )


# -- 4. a folder that cannot be made -------------------------------------------------------


def test_a_data_dir_or_drop_folder_that_cannot_be_made_is_refused(tmp_path):
    """Both passed check; serve then refused to start."""
    locked = tmp_path / "locked"
    config = config_with(
        tmp_path,
        ('data_dir = "var"', 'data_dir = "locked/var"'),
        ("[accounts.acme]\n", '[accounts.acme]\ndropdir = { path = "locked/drop" }\n'),
    )
    with unwritable(locked):
        code, said = check(config)
    why = f"({locked}: permission denied); renkei serve makes it at start: make it possible,"
    assert (code, said) == (
        1,
        [
            f"daemon.data_dir: the folder {locked / 'var'} cannot be made {why}"
            " or make the folder beforehand",
            f"accounts.acme.dropdir.path: the folder {locked / 'drop'} cannot be made {why}"
            " or make the folder beforehand",
        ],
    )
    assert check(config)[0] == 0  # once it can be made


def test_a_drop_folder_a_reload_cannot_make_is_said_in_a_line(tmp_path):
    """The reload's mkdir failed, and was logged with a full traceback at every retry.
    /sys lets root pass access(2) and refuses the folder: what check cannot foresee."""
    if os.geteuid() != 0 or not Path("/sys").is_dir():
        pytest.skip("needs root and /sys: a folder access(2) passes and mkdir refuses")
    folder = Path(f"/sys/renkei-test-{os.getpid()}")
    config = config_with(tmp_path)
    daemon = Daemon(config).start()
    try:
        text = config.read_text()
        config.write_text(
            text.replace(
                "[accounts.acme]\n", f'[accounts.acme]\ndropdir = {{ path = "{folder}" }}\n'
            )
        )
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while "reload refused" not in (log := daemon.log.read_text(encoding="utf-8")):
            assert time.monotonic() < deadline, log[-3000:]
            time.sleep(0.1)
        time.sleep(1)  # a traceback would follow its line
        log = daemon.log.read_text(encoding="utf-8")
        assert "Traceback" not in log, log[-3000:]
        # One line each time it is tried again, saying where and why.
        lines = [line for line in log.splitlines() if "reload refused" in line]
        assert all(str(folder) in line and "Operation not permitted" in line for line in lines)
    finally:
        assert daemon.terminate() == 0


# -- 5. an empty env: secret ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("swap", "key"),
    [
        (('"demo-admin"', '"env:FX3_EMPTY_SECRET"'), "api.admin_token"),
        (("", ""), "sends.s.headers.X-Token"),
    ],
)
def test_a_secret_from_a_variable_set_empty_is_refused(tmp_path, swap, key):
    """Only whether it was set was checked: `FX3_EMPTY_SECRET=` passed as a secret."""
    more = SEND + 'headers = { X-Token = "env:FX3_EMPTY_SECRET" }\n' if key.startswith("s") else ""
    config = config_with(tmp_path, swap, more=more)
    assert check(config, env={"FX3_EMPTY_SECRET": ""}) == (
        1,
        [
            f"{key}: environment variable FX3_EMPTY_SECRET is empty: an empty token or"
            " password cannot be used"
        ],
    )
    assert check(config, env={"FX3_EMPTY_SECRET": "  "})[0] == 1  # spaces left after NAME=
    assert check(config, env={"FX3_EMPTY_SECRET": "s3cret-value"})[0] == 0


# -- 9. a monthly day that is no day -------------------------------------------------------


@pytest.mark.parametrize("day", ["1.5", "true", '"first"', "0"])
def test_an_expected_day_that_is_no_day_is_one_problem_at_its_key(tmp_path, day):
    """`day = 1.5` was said twice, at `expect.day.int` and `expect.day.str`, each
    contradicting the other."""
    more = f'[accounts.acme.expect]\nday = {day}\nby = "10:00"\n'
    code, said = check(config_with(tmp_path, more=more))
    shown = {"1.5": "1.5", "true": "true", '"first"': "'first'", "0": "0"}[day]
    assert (code, said) == (
        1,
        [f'accounts.acme.expect.day: {shown} is not a day of the month (1 to 31) nor "last"'],
    )


def test_an_expected_day_in_quotes_is_told_to_be_written_without(tmp_path):
    """`day = "31"` was said to be neither a day of 1 to 31 nor "last"."""
    more = '[accounts.acme.expect]\nday = "31"\nby = "10:00"\n'
    code, said = check(config_with(tmp_path, more=more))
    assert (code, said) == (
        1,
        [
            "accounts.acme.expect.day: '31' is a string where a number belongs: write 31, without quotes"
        ],
    )


@pytest.mark.parametrize("day", ["1", "31", '"last"'])
def test_an_expected_day_of_the_month_is_taken(tmp_path, day):
    more = f'[accounts.acme.expect]\nday = {day}\nby = "10:00"\n'
    assert check(config_with(tmp_path, more=more))[0] == 0


# -- 10. a column name's rule --------------------------------------------------------------


def column(name: str) -> tuple[str, str]:
    return ('{ name = "note",', f'{{ name = "{name}", type = "text" }},\n  {{ name = "note",')


@pytest.mark.parametrize("name", ["_source_file", "_flag"])
def test_a_column_name_starting_with_an_underscore_says_why(tmp_path, name):
    """'_flag' was refused as not "letters, digits and _", which it is."""
    code, said = check(config_with(tmp_path, column(name)))
    assert (code, said) == (
        1,
        [
            f"layouts.performance.columns.3.name: '{name}' starts with _, which is kept for"
            " renkei's own columns (_source_file, …): start the name with a letter"
        ],
    )


@pytest.mark.parametrize("name", ["a" * 64, "1st", "売上"])
def test_a_column_name_says_the_whole_rule(tmp_path, name):
    code, said = check(config_with(tmp_path, column(name)))
    assert code == 1 and len(said) == 1, said
    assert said[0].startswith(
        f"layouts.performance.columns.3.name: '{name}' is not a column name (a letter first,"
        " then letters, digits and _, 63 characters at most)"
    )
    assert check(config_with(tmp_path, column("a" * 63)))[0] == 0


# -- a listen host this machine does not have -----------------------------------------------


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("nohost.invalid", "no such host"),
        ("192.0.2.1", "not an address of this machine"),
    ],
)
def test_a_listen_host_that_serve_could_not_bind_is_refused_at_check(tmp_path, host, why):
    """check passed a name that does not resolve and another machine's address; serve
    then could not start. A port the system picks is bound on it, and let go."""
    config = config_with(tmp_path)
    text = config.read_text()
    start = text.index('listen = "127.0.0.1:', text.index("[api]"))
    port = text[start:].split(":", 1)[1].split('"', 1)[0]
    config.write_text(text.replace(f'127.0.0.1:{port}"', f'{host}:{port}"', 1))
    code, said = check(config)
    assert code == 1, said
    [line] = [line for line in said if line.startswith("api.listen")]
    assert line.startswith(f"api.listen: cannot listen on '{host}:{port}': "), line
    assert why in line.lower(), line


def test_an_ipv4_mapped_smtp_listen_address_is_refused_as_serve_refuses_it(tmp_path):
    """asyncio's create_server binds the SMTP door IPv6 only: `[::ffff:127.0.0.1]` passed
    check (a plain IPv6 socket takes it) and serve then could not start."""
    config = config_with(tmp_path)
    text = config.read_text()
    start = text.index('listen = "127.0.0.1:', text.index("[smtp]"))
    port = text[start:].split(":", 1)[1].split('"', 1)[0]
    config.write_text(text.replace(f'127.0.0.1:{port}"', f'[::ffff:127.0.0.1]:{port}"', 1))
    code, said = check(config)
    assert code == 1, said
    assert any(line.startswith("smtp.listen: cannot listen on") for line in said), said
