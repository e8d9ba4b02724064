"""One `renkei serve` per data_dir: a second daemon on it is refused at start, naming
the first; a daemon that was killed leaves no lock behind.

Real daemons (`renkei serve`) on loopback ports, driven by httpx and smtplib.
"""

from __future__ import annotations

import httpx

from tests.support import Daemon, account, csv_bytes, mail, queued_ids, renkei, send, write_config


def test_a_second_daemon_on_one_data_dir_is_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_config(tmp_path / "a", account("acme"))
    daemon = Daemon(first).start()
    try:
        # Another config (other ports) that names the same data_dir.
        second = write_config(tmp_path / "b", account("acme"))
        text = second.read_text().replace('data_dir = "var"', f'data_dir = "{daemon.data_dir}"')
        second.write_text(text)
        refused = renkei("serve", "--config", str(second), timeout=60)
        assert refused.returncode == 1
        assert f"別の renkei serve (pid {daemon.proc.pid})" in refused.stderr
        assert str(daemon.data_dir) in refused.stderr
        assert "Traceback" not in refused.stderr
        # The first serves on, untouched.
        assert httpx.get(f"{daemon.api}/healthz", timeout=10).status_code == 200
        _, code, reply = send(
            daemon.smtp_port, mail([("20240516.csv", csv_bytes(["1,2024/05/16,1,x"]))])
        )
        assert code == 250
        assert daemon.wait_run(queued_ids(reply)[0])["state"] == "completed"

        second.write_text(text.replace("[report]\n", '[report]\nlanguage = "en"\n'))
        english = renkei("serve", "--config", str(second), timeout=60)
        assert english.returncode == 1
        assert f"another renkei serve (pid {daemon.proc.pid})" in english.stderr

        # Killed, it holds nothing: the next start on the data_dir serves.
        daemon.kill()
        daemon.start()
        assert httpx.get(f"{daemon.api}/healthz", timeout=10).status_code == 200
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.terminate()
