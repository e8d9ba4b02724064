"""The master: starts every part of the daemon in one event loop and stops it cleanly.

Order at start: store (migrated) → import process started, which recovers the spool,
while the listeners are bound (what they take waits in the spool) → reporter → config
watch and FTP checks → retention sweep (once now, then daily) → expected-file
checks (poll/expected.py: once now, then at each account's `expect.by`) → daily digests
(poll/digest.py: once now, then at each digest account's `digest_at`) → READY=1. Imports
run in that process (worker/process.py), never in this loop. SIGTERM: STOPPING=1, stop accepting, stop the import process (the
running import is rolled back and retried at next start), exit 0. SIGHUP: reload the config, or keep the old one
when the new one is invalid (an admin alert says why, report/alerts.py, as it does while
the disk is under `daemon.min_free_bytes`, checked every 30 s and at each reload). Called by `renkei serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from daemon import earlyhup, graph, systemd
from daemon.backoff import backoff
from daemon.report import alerts
from daemon.settings import (
    ConfigError,
    Problem,
    Settings,
    check_warnings,
    listen_error,
    load,
    split_listen,
)
from daemon.settings.checks import served_checks
from daemon.settings.restart import keep_started
from daemon.settings.switches import Switches
from daemon.spool.queue import now_iso
from daemon.store.errors import log_failure
from daemon.store.runs import RunState
from daemon.worker.pipeline import count_run, transient
from daemon.worker.supervisor import ImportSupervisor
from handlers.base import Intake, SpoolUnavailable

log = logging.getLogger(__name__)
_STOP_SECONDS = 20  # within systemd's TimeoutStopSec
_RESTART_BASE = 1.0  # seconds before a crashed service is started again, doubling…
_RESTART_MAX = 60.0  # …up to this
_RESTART_FORGET = 600.0  # crashes further apart than this start the count anew
_DISK_SECONDS = 30.0  # how often the spool's free space is checked for the admin alert
_STARTING_SECONDS = 30.0  # how long a poll asked during the start waits for the checks
_SWITCH_SECONDS = 3.0  # how often a shared store's account switches are read again
_RELOAD_AGAIN_BASE = 5.0  # seconds before a reload the store was too busy for is tried again…
_RELOAD_AGAIN_MAX = 300.0  # …doubling up to this


class Master:
    def __init__(self, settings: Settings, config_path: Path) -> None:
        # As the config says, and as served: with the console's account switches laid over.
        self.configured = settings
        self.switches = Switches(settings.data_dir)
        self.settings = self.switches.apply(settings)
        self.config_path = config_path
        self.ready = False
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._crashes: dict[str, tuple[int, float]] = {}  # name → count, last crash
        self.intakes: list[Intake] = []
        self._web = None
        self.expecter = None
        self.outward = None
        # The API opens before the FTP checks are scheduled: a poll asked meanwhile waits.
        self._polling = asyncio.Event()
        self._reloading = asyncio.Lock()  # SIGHUP and the file watch: one at a time
        self._reload_tries = 0  # reloads in a row the store was too busy for
        # A SIGHUP before the loop's handler is in place would end the process (its
        # default action): until the daemon is ready one is only remembered, and the
        # reload it asked for is made once ready. `renkei serve` holds them from its
        # first line; this covers a Master built without it.
        self._hup_pending = False
        earlyhup.hold()

    def current(self) -> Settings:
        return self.settings

    async def run(self) -> int:
        data_dir = self.settings.data_dir
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._hup)
        # Read after the loop took the signal over: none can be held after this.
        self._hup_pending = earlyhup.take()
        self._warn(self.settings)
        self.importer = ImportSupervisor(self.current, self._counted, self._reported)
        self.parts = await graph.build(self.current, wake=self.importer.wake)
        self.store = self.parts.store
        try:
            await self._start()
            self._install_signals()
            self.ready = True
            systemd.notify("READY=1")
            log.info("renkei ready (data in %s)", data_dir)
            if self._hup_pending:
                log.info("reloading: a SIGHUP came while starting")
                self._hup()
            await self._stop.wait()
            systemd.notify("STOPPING=1")
            await self._shutdown()
        finally:
            await self.parts.close()
        log.info("renkei stopped")
        return 0

    async def _start(self) -> None:
        if self.store.shared:
            await self.switches.share(self.store)
            self.settings = self.switches.apply(self.configured)
            self._spawn(self._follow_switches(), "switches")
        self.reporter = self.parts.reporter
        self.alerts = self.parts.alerts
        await self.alerts.clear(alerts.RELOAD)  # this config was accepted
        from daemon.outward.triggers import Outward

        # Before the import process starts: a run it completes at once may be followed.
        self.outward = Outward(self.current, self.store, self.reporter.queue_run, self.alerts)
        # Imports run in a process of their own, which recovers the spool first. The
        # doors open meanwhile (what they take waits in the spool for it): starting the
        # process and opening the doors each take about half a second of a core.
        # A run it finishes from now on is its own to report: the start's recovery below
        # queues only those finished before (both writing one run's report at once, the
        # second's rename found no file, and the daemon did not start).
        started = now_iso()
        importer = asyncio.create_task(self.importer.start())
        try:
            await self._open_doors()
        except BaseException:
            importer.cancel()
            with contextlib.suppress(BaseException):
                await importer
            raise
        await importer  # raises when the process did not start: so does the daemon
        await self.reporter.recover(started)
        self._watch_config()
        if self.ftp is not None:
            from daemon.poll.jobs import Poller

            state = self.settings.data_dir / "ftp" / ".last-checks.json"
            self.poller = Poller(self.current, self.ftp.check, state, self.store)
            self.poller.start()
            self._polling.set()
        from daemon.retention import Sweeper

        self.sweeper = Sweeper(self.current, self.store)
        self.sweeper.start()
        from daemon.poll.expected import Expecter

        self.expecter = Expecter(self.current, self.store, self.reporter)
        self.expecter.start()
        from daemon.poll.digest import Digester

        self.digester = Digester(self.current, self.store, self.reporter)
        self.digester.start()
        await self.outward.start()
        self._spawn(self.importer.serve(), "importer")
        self._spawn(self.reporter.serve(), "reporter")
        self._spawn(self._watch_disk(), "disk")
        if (interval := systemd.watchdog_seconds()) is not None:
            self._spawn(self._watchdog(interval), "watchdog")

    async def _open_doors(self) -> None:
        """Bind every listener and start taking files into the spool."""
        self.sink = sink = self.parts.sink
        if self.settings.smtp.enabled:
            from handlers.smtp import MailIntake

            self.intakes.append(MailIntake(self.current, sink))
        self.ftp = None
        if self.settings.ftp.enabled:
            from handlers.ftp import FtpIntake

            self.ftp = FtpIntake(self.current, sink)
            self.intakes.append(self.ftp)
        from handlers.dropdir import DropdirIntake

        self.dropdir = DropdirIntake(self.current, sink)
        self.intakes.append(self.dropdir)
        for intake in self.intakes:
            await intake.start()
        if self.settings.api.enabled:
            await self._start_web()

    async def _start_web(self) -> None:
        import uvicorn

        from daemon.console.signing import Signer
        from daemon.web.app import create_app
        from daemon.web.deadline import limited

        class Server(uvicorn.Server):
            # The master owns the signals; uvicorn must not take them over.
            def capture_signals(self):  # noqa: ANN202
                return contextlib.nullcontext()

        host, port = split_listen(self.settings.api.listen)
        try:
            sock = tcp_listener(host, port)
        except OSError as exc:
            raise listen_error("api.listen", self.settings.api.listen, exc) from None
        app = create_app(
            self.current,
            self.store,
            lambda: self.ready,
            self.poll,
            self.sink,
            self.parts.retrier.retry,
            self.switches,
            self.switch,
            self.outward,
            lambda: self.reporter.relay_down,
        )
        if self.store.shared:
            # Behind a load balancer a console session may reach any instance.
            secret = await self.store.console_secret(secrets.token_hex(32))
            app.state.console_signer = Signer(bytes.fromhex(secret))
        tls = {}
        if (cert := self.settings.api.tls_cert) is not None:  # HTTPS only, never both
            key = self.settings.api.tls_key
            tls = {
                "ssl_certfile": str(self.settings.path(cert)),
                "ssl_keyfile": str(self.settings.path(key)) if key else None,
            }
        # api.forwarded_allow_ips: X-Forwarded-For names the client only when it comes
        # from one of these proxies; empty trusts none, whatever FORWARDED_ALLOW_IPS says.
        proxies = list(self.settings.api.forwarded_allow_ips)
        config = uvicorn.Config(
            app,
            http=limited(self.settings.api.client_timeout),
            log_level="warning",
            access_log=False,
            lifespan="off",
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or None,
            **tls,
        )
        self._web = Server(config)
        task = self._spawn(self._web.serve(sockets=[sock]), "web")
        while not self._web.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        scheme = "https" if tls else "http"
        log.info("%s listening on %s:%d", scheme, *sock.getsockname()[:2])

    async def poll(self, name: str) -> list[str]:
        """Check an account now (POST /api/v1/accounts/{name}/poll, `renkei poll`)."""
        if self.ftp is None:
            raise LookupError("FTP intake is not enabled")
        try:
            # A poll asked while the daemon starts: the checks come a moment after the
            # doors (it was a 500, the poller not made yet).
            await asyncio.wait_for(self._polling.wait(), _STARTING_SECONDS)
        except TimeoutError:
            raise SpoolUnavailable("the daemon is still starting") from None
        return await self.poller.check(name)

    def _reported(self, run_id: str) -> None:
        self.reporter.wake()

    def _counted(self, state: RunState, imported: int, run_id: str) -> None:
        count_run(state, imported)
        if state == RunState.COMPLETED and self.outward is not None:
            self.outward.after_import(run_id)  # sends and calls that follow imports
        if self.expecter is not None:
            self.expecter.wake()  # the run may be the file an expected-file alert awaits

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._on_task_done)
        self._tasks.append(task)
        return task

    def _on_task_done(self, task: asyncio.Task) -> None:
        # A finished task is forgotten: one kept would hold its exception and frames,
        # and a service that keeps crashing would grow the daemon without bound.
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)
        if task.cancelled() or self._stop.is_set():
            return
        exc = task.exception()
        if exc is None:
            return
        # A service died: restart it rather than serve without it, after a pause that
        # grows while it keeps dying, so a lasting fault cannot flood the log.
        name = task.get_name()
        restart = {
            "importer": self.importer.serve,
            "reporter": self.reporter.serve,
            "disk": self._watch_disk,
        }.get(name)
        if restart is None:
            log.error("%s crashed", name, exc_info=exc)
            return
        crashes, since = self._crashes.get(name, (0, 0.0))
        if time.monotonic() - since > _RESTART_FORGET:
            crashes = 0  # it ran well for a while: this is a new fault
        delay = backoff(_RESTART_BASE, crashes, _RESTART_MAX)
        self._crashes[name] = (crashes + 1, time.monotonic())
        log.error("%s crashed; restarting it in %.0fs", name, delay, exc_info=exc)
        asyncio.get_running_loop().call_later(delay, self._respawn, restart, name)

    def _respawn(self, restart: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        if not self._stop.is_set():
            self._spawn(restart(), name)

    async def _follow_switches(self) -> None:
        """A shared store: an account switched in another instance's console is
        switched here within a few seconds."""
        while True:
            await asyncio.sleep(_SWITCH_SECONDS)
            try:
                changed = await self.switches.refresh()
            except Exception as exc:  # the store away a moment: the next look tries again
                log.warning("could not read the shared account switches: %s", exc)
                continue
            if changed:
                log.info("account switches changed in another instance; serving them")
                self._serve_settings()

    async def _watch_disk(self) -> None:
        while True:
            await self._check_disk()
            await asyncio.sleep(_DISK_SECONDS)

    async def _check_disk(self) -> None:
        """An admin alert while the spool's disk is under daemon.min_free_bytes."""
        limit = self.settings.daemon.min_free_bytes
        try:
            free = self.parts.spool.free_bytes()
        except OSError:
            free = 0
        if free >= limit:
            await self.alerts.clear(alerts.DISK)
        else:
            await self.alerts.disk_low(str(self.parts.spool.root), free, limit)

    async def _watchdog(self, interval: float) -> None:
        # Pinged from the loop itself: a blocked loop stops the pings and systemd notices.
        while True:
            systemd.notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self.stop)

    async def _end_sessions_of_changed_users(self, served: Settings, new: Settings) -> None:
        """A user removed, or whose password changed, is logged out for good: their
        sessions refused while the config said so came back with a config that put
        the user (or the old password) back, a rollback or a copy restored."""
        changed = [
            name
            for name, user in served.users.items()
            if name not in new.users or new.users[name].password_hash != user.password_hash
        ]
        try:
            await self.store.end_sessions_of(changed)
        except Exception as exc:  # the sessions are refused all the same meanwhile
            log_failure(log, exc, "could not end the sessions of users changed by the reload")

    def _reload_again(self) -> None:
        """A reload the store could not take for the moment (SQLite held by another
        writer past its busy timeout, PostgreSQL down) is tried again by itself, with
        a growing pause: a valid config was otherwise never applied until an admin
        noticed the alert and reloaded once more."""
        delay = backoff(_RELOAD_AGAIN_BASE, self._reload_tries, _RELOAD_AGAIN_MAX)
        self._reload_tries += 1
        log.warning("reload: trying again in %.0fs", delay)
        asyncio.get_running_loop().call_later(delay, self._hup)

    def _hup(self) -> None:
        if not self.ready:
            self._hup_pending = True  # reloaded once ready
            return
        self._hup_pending = False
        asyncio.ensure_future(self.reload())

    def stop(self) -> None:
        log.info("stopping")
        self._stop.set()

    async def reload(self) -> bool:
        if self._stop.is_set():
            return False
        if not self.ready:
            self._hup_pending = True  # made once ready, after READY=1
            return False
        async with self._reloading:
            systemd.notify("RELOADING=1")
            try:
                return await self._reload()
            finally:
                # Whatever happened: systemctl reload waits for it.
                systemd.notify("READY=1")

    async def _reload(self) -> bool:
        served, switched = self.configured, self.switches.held()
        try:
            settings, restart = keep_started(
                served, await asyncio.to_thread(load, self.config_path)
            )
            if restart and (problems := served_checks(settings)):
                raise ConfigError(problems)
            # A layout whose column changed type is refused here, before it is served.
            await self.store.ensure_layouts(settings.layouts)
            self.configured = settings
            self._serve_settings()
        except Exception as exc:
            if self.configured is not served:
                self.configured = served
                with contextlib.suppress(Exception):
                    self.switches.restore(switched)
                    self._serve_settings()
            await self._refused(exc)
            if transient(exc):
                self._reload_again()
            return False
        self._reload_tries = 0
        if settings.report != served.report:
            self.reporter.relay_changed()
        await self._end_sessions_of_changed_users(served, settings)
        log.info("config reloaded from %s", self.config_path)
        for key in restart:
            log.warning(
                "config: %s changed: needs a restart to take effect; the old value is kept", key
            )
        self._warn(settings)
        await self.alerts.clear(alerts.RELOAD)
        await self._check_disk()  # min_free_bytes may have changed
        return True

    async def _refused(self, exc: Exception) -> None:
        """A config that is invalid, or that could not be applied (the store refused a
        layout's table, say): the old one goes on serving and the admins are told."""
        if isinstance(exc, ConfigError):
            problems = exc.problems
        else:
            # A folder it could not make (a drop folder on a read-only disk) is said in
            # full, path and reason, by the line below: a traceback at each retry told
            # no more.
            if not (isinstance(exc, OSError) and exc.filename) and not transient(exc):
                log_failure(log, exc, "reload failed while applying the new config")
            detail = f"{type(exc).__name__}: {exc}"
            problems = [Problem(str(self.config_path), "config.not_applied", {"detail": detail})]
        for problem in problems:
            log.error("reload refused: %s", problem)
        try:
            # Said in the language of the config that goes on serving.
            await self.alerts.reload_refused(problems, str(self.config_path), transient(exc))
        except Exception as alert_exc:  # the outbox's disk: the log has said it already
            log.error("could not queue the reload-refused alert: %s", alert_exc)

    async def switch(self, account: str, status: str, by: str) -> None:
        """Stop or start an account from the console, kept across restarts and reloads
        (and, on a shared store, for every instance)."""
        configured = self.configured.accounts[account].status
        await self.switches.set(account, status, configured, by, now_iso())
        log.info("account %s switched %s in the console by %s", account, status, by)
        self._serve_settings()

    def _serve_settings(self) -> None:
        # Every part reads the settings through self.current: this reaches them all.
        self.settings = self.switches.apply(self.configured)
        self.importer.reload()
        if self.ftp is not None:
            self.ftp.reload()
            self.poller.rebuild()
        self.dropdir.reload()
        self.expecter.reload()
        self.digester.reload()
        self.sweeper.reload()
        self.outward.rebuild()

    @staticmethod
    def _warn(settings: Settings) -> None:
        """What `renkei check` warns about, logged in English like every log line."""
        for warning in check_warnings(settings):
            log.warning("config: %s", warning)

    def _watch_config(self) -> None:
        """A change of the config file reloads it, like SIGHUP."""
        from watchdog.events import (
            FileClosedEvent,
            FileCreatedEvent,
            FileMovedEvent,
            FileSystemEventHandler,
        )
        from watchdog.observers import Observer

        loop = asyncio.get_running_loop()
        target = str(self.config_path)
        master = self

        class Changed(FileSystemEventHandler):
            def on_any_event(self, event) -> None:  # noqa: ANN001
                # Not "opened"/"closed_no_write": reading the config must not reload it.
                if event.event_type not in ("created", "moved", "closed"):
                    return
                paths = {getattr(event, "src_path", ""), getattr(event, "dest_path", "")}
                # The link, or the file it points to now (a config kept elsewhere and
                # linked, as configuration management does: its edits reloaded nothing).
                if {target, os.path.realpath(target)} & {os.fsdecode(p) for p in paths if p}:
                    loop.call_soon_threadsafe(master._config_changed)

        self._config_observer = Observer()
        # Not "modified" either: a file written in place is also closed after writing,
        # and leaving writes out keeps the kernel from waking the watcher's threads at
        # every line of a log kept beside the config.
        folders = {
            os.path.dirname(os.path.abspath(target)),
            os.path.dirname(os.path.realpath(target)),
        }
        for folder in sorted(folders):
            self._config_observer.schedule(
                Changed(),
                folder,
                recursive=False,
                event_filter=[FileCreatedEvent, FileMovedEvent, FileClosedEvent],
            )
        self._config_observer.start()
        self._reload_pending: asyncio.TimerHandle | None = None

    def _config_changed(self) -> None:
        # Editors write in several steps; reload once they are done.
        if self._reload_pending is not None:
            self._reload_pending.cancel()
        loop = asyncio.get_running_loop()
        self._reload_pending = loop.call_later(0.5, lambda: asyncio.ensure_future(self.reload()))

    async def _shutdown(self) -> None:
        self._config_observer.stop()
        self.sweeper.stop()
        self.expecter.stop()
        self.digester.stop()
        if self.ftp is not None:
            self.poller.stop()
        for intake in self.intakes:
            await intake.stop()
        if self._web is not None:
            self._web.should_exit = True
        await self.importer.stop(_STOP_SECONDS)
        await self.outward.stop()
        for task in self._tasks:
            if task.get_name() != "web":
                task.cancel()
        _, stuck = await asyncio.wait(self._tasks, timeout=_STOP_SECONDS)
        for task in stuck:
            log.error("%s did not stop within %ss", task.get_name(), _STOP_SECONDS)


def tcp_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket whose protocol is IPPROTO_TCP by name.

    asyncio sets TCP_NODELAY only on connections of a socket made so; one from
    socket.create_server (protocol 0) keeps Nagle's algorithm on, and a keep-alive
    client then waits out its delayed ACK, about 40 ms, for every answer.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock
