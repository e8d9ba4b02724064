"""Delivers the requests of each job: retried with backoff on a network error, 429 or
5xx (Retry-After honoured), failed at once on any other 4xx, every attempt's answer
kept in the store under the job's run.

One task per job, in the daemon's event loop (network waits, no CPU). Jobs survive a
restart on disk (jobs.py), or in a shared store (keeping.py); `recover()` resumes
them at start. A send's parts go in
order and stop at the first that fails; a call's requests go `concurrency` at a time.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import email.utils
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from daemon.backoff import backoff
from daemon.outward.jobs import DONE, FAILED, OWN_HEADERS, SKIPPED, WAITING, Job, Request
from daemon.outward.keeping import RENEW_SECONDS, FolderJobs, SharedJobs
from daemon.settings import Settings, resolve_secret
from daemon.settings.model import Outbound
from daemon.settings.problems import OsTrouble, os_error_in
from daemon.spool.queue import now_iso
from daemon.store.base import Store
from daemon.store.errors import log_failure
from importers.messages import Words, words_json

log = logging.getLogger(__name__)
ANSWER_BYTES = 1024  # of each answer's body, kept with the request
_REMOVED_CHECK = 1.0  # seconds between looks, while waiting, at whether the send is gone
_MAX_RETRY_AFTER = 3600.0  # a Retry-After further off than this is waited out this long
Finished = Callable[[Job], Awaitable[None]]
Answered = Callable[[Job], Awaitable[None]]
# Errors of the request as built, not of the network or the receiver: no retry mends
# them. httpx files these two under HTTPError with the network's own.
_OURS = (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError)


class NotSpooled(Exception):
    """A job that could not be spooled (the disk full, an I/O error): nothing of it is
    kept and nothing will be sent. `__cause__` says why."""


class Deliverer:
    def __init__(
        self, settings: Callable[[], Settings], store: Store, jobs: FolderJobs | SharedJobs
    ) -> None:
        self._settings = settings
        self.store = store
        self.jobs = jobs
        self._leases: asyncio.Task | None = None
        self._finished: dict[str, Finished] = {}
        self._answered: dict[str, Answered] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self._client: httpx.AsyncClient | None = None

    def on_finished(self, kind: str, finished: Finished) -> None:
        """Told when a job of `kind` has every request answered (or given up)."""
        self._finished[kind] = finished

    def on_answered(self, kind: str, answered: Answered) -> None:
        """Told each time a request of a job of `kind` is answered 2xx."""
        self._answered[kind] = answered

    async def add(self, job: Job, bodies: dict[int, bytes]) -> None:
        """Spool `job` durably, record its requests, and start delivering it. Raises
        NotSpooled when it cannot be spooled (what was written of it is removed).
        A job of its id kept already (a call's, started again by a start after a crash
        that came before its import's forwarding was marked done) is left as it is:
        written over, or removed when its second writing failed, it lost requests
        still to go, and the recovered delivery of it met a job no longer there."""
        if job.id in self._tasks or await self.jobs.exists(job.id):
            log.info("outward job %s is kept already: delivered as it is", job.id)
            return
        try:
            await self.jobs.create(job, bodies)
        except Exception as exc:
            with contextlib.suppress(Exception):
                await self.jobs.remove(job)
            raise NotSpooled(str(exc)) from exc
        await self.store.log_requests([request_record(job, r) for r in job.requests])
        self._start(job)

    async def recover(self) -> None:
        """Resume every job a stop or a crash left behind; with a shared store, go on
        renewing this instance's leases and taking over jobs whose lease ran out."""
        await self._resume()
        if self.jobs.shared and self._leases is None:
            self._leases = asyncio.create_task(self._keep_leases(), name="outward leases")

    async def _resume(self) -> None:
        for job in await self.jobs.claim():
            if job.id in self._tasks:
                continue
            # The job is saved before the request log: bring the log up to it.
            for request in job.requests:
                if request.attempts or request.state != WAITING:
                    await self._record(job, request)
            self._start(job)

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                await self.jobs.renew(list(self._tasks))
                await self._resume()
            except Exception as exc:  # the store away a moment: the next round tries again
                log_failure(log, exc, "outward jobs: could not renew leases or look for jobs left")

    async def stop(self) -> None:
        if self._leases is not None:
            self._leases.cancel()
            await asyncio.gather(self._leases, return_exceptions=True)
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def idle(self) -> None:
        """Wait until no job is being delivered (for tests and `renkei send --wait`)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    def _start(self, job: Job) -> None:
        if job.id in self._tasks:
            return
        task = asyncio.create_task(self._deliver(job), name=f"outward {job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job.id, None))

    async def _deliver(self, job: Job) -> None:
        try:
            if self._removed(job):
                # Its send or call left the config: what was not sent is not sent (強制終了).
                log.warning(
                    "%s %s is no longer configured; job %s ends", job.kind, job.name, job.id
                )
                await self._skip_rest(job)
            elif job.ordered:
                for request in job.requests:
                    if request.state == WAITING:
                        await self._until_answered(job, request)
                    # A part that failed before a restart stops the rest as well, and
                    # one left waiting because its send was removed meanwhile.
                    if request.state in (FAILED, SKIPPED, WAITING):
                        await self._skip_rest(job)
                        break
            else:
                gate = asyncio.Semaphore(job.concurrency)

                async def one(request: Request) -> None:
                    async with gate:
                        await self._until_answered(job, request)

                await asyncio.gather(*(one(r) for r in job.requests if r.state == WAITING))
                await self._skip_rest(job)  # any left waiting: its call was removed
            finished = self._finished.get(job.kind)
            if finished is not None:
                await finished(job)
            await self.jobs.remove(job)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Kept: the next start (or, shared, another instance) tries again.
            log.exception("outward job %s could not be delivered; kept for the next start", job.id)

    async def _skip_rest(self, job: Job) -> None:
        skipped = []
        for request in job.requests:
            if request.state == WAITING:
                request.state = SKIPPED
                await self._record(job, request)
                skipped.append(request)
        if skipped:
            await self.jobs.progress(job, skipped)

    async def _until_answered(self, job: Job, request: Request) -> None:
        while request.state == WAITING:
            # Waited out in steps: a send removed meanwhile (a reload) ends now, not
            # when a Retry-After of up to an hour runs out.
            while (wait := request.next_try - time.time()) > 0 and not self._removed(job):
                await asyncio.sleep(min(wait, _REMOVED_CHECK))
            if self._removed(job):
                return  # left waiting; the caller ends the job (強制終了)
            # Read at each try: a reload's retry rules and timeout reach a request
            # already being tried (README), where they once stayed those of its first.
            rules = self._rules(job)
            retry_after = await self._attempt(job, request, rules)
            if request.state == WAITING:
                if request.attempts >= rules.max_attempts:
                    request.state = FAILED
                else:
                    delay = backoff(
                        rules.retry_seconds, request.attempts - 1, rules.max_retry_seconds
                    )
                    if retry_after is not None:
                        delay = min(max(delay, retry_after), _MAX_RETRY_AFTER)
                    request.next_try = time.time() + delay
                    log.warning(
                        "%s %s request %d: %s; retry in %.0fs",
                        job.kind,
                        job.name,
                        request.seq,
                        request.answer[:200] or request.status,
                        delay,
                    )
            await self.jobs.progress(job, [request])
            await self._record(job, request)
            if request.state == DONE:
                await self._told_answered(job)

    async def _told_answered(self, job: Job) -> None:
        answered = self._answered.get(job.kind)
        if answered is None:
            return
        try:
            await answered(job)
        except Exception as exc:  # the count is for people; the job's end settles it
            log_failure(log, exc, "outward job %s: could not count a part answered", job.id)

    async def _attempt(self, job: Job, request: Request, rules: Outbound) -> float | None:
        """One try; sets the request's state when it is final. Returns Retry-After."""
        headers = {
            name: resolve_secret(value) or ""
            for name, value in request.headers.items()
            if name.lower() not in OWN_HEADERS
        }
        headers["Idempotency-Key"] = idempotency_key(job, request)
        content = None
        if request.content_type is not None:
            headers["Content-Type"] = request.content_type
            content = await self.jobs.body(job, request.seq)
        await self._count_attempt(job, request)
        client = self._http()
        answer: httpx.Response | None = None
        head = bytearray()
        try:
            # `timeout` bounds the whole exchange: httpx's bounds each read, so an answer
            # trickling in forever would hold the request forever.
            async with asyncio.timeout(rules.timeout):
                exchange = client.stream(
                    request.method,
                    request.url,
                    headers=headers,
                    content=content,
                    timeout=rules.timeout,
                )
                async with exchange as answer:
                    await _first_bytes(answer, ANSWER_BYTES, head)
        except _OURS as exc:
            self._unsendable(job, request, exc)
            return None
        except (httpx.HTTPError, TimeoutError) as exc:
            if answer is None:
                words = _network_trouble(exc, rules.timeout)
                text = words.say(self._settings().report.language)
                request.status, request.answer = None, text[:ANSWER_BYTES]
                request.said = words_json(words)
                return None
            # The status line came: the receiver answered by it. A body cut off or
            # trickling past the timeout only shortens the text kept; taken as a
            # failed connection, a 200 was sent again, and again.
            log.info(
                "%s %s request %d: answer's body cut short: %s",
                job.kind,
                job.name,
                request.seq,
                type(exc).__name__,
            )
        except Exception as exc:  # neither the network's nor the receiver's: ours
            self._unsendable(job, request, exc)
            return None
        request.status, request.said = answer.status_code, ""  # the receiver's own words
        request.answer = bytes(head).decode(_codec(answer.charset_encoding), errors="replace")
        if answer.is_success:
            request.state = DONE
        elif answer.status_code == 429 or answer.status_code >= 500:
            return _retry_after(answer.headers.get("retry-after"))
        else:
            request.state = FAILED  # the other side will not take it however often asked
        log.info("%s %s request %d: %s", job.kind, job.name, request.seq, answer.status_code)
        return None

    async def _count_attempt(self, job: Job, request: Request) -> None:
        """Count the attempt, durably, before the request goes out. Counted after its
        answer, one cut off by a crash (kill -9, a power cut) was never counted, though
        the receiver may have got it: `attempts` says how many requests went out."""
        request.attempts += 1
        await self.jobs.progress(job, [request])

    def _unsendable(self, job: Job, request: Request, exc: Exception) -> None:
        """Failed at once, like a 4xx: the request itself is wrong (a URL too long, a
        header that is no header, a text not encodable), so every retry would fail the
        same way, and an error left to escape would end the job and repeat at each start."""
        language = self._settings().report.language
        detail = f"{type(exc).__name__}: {exc}"[:300]
        words = Words("outward.unsendable", {"detail": detail})
        request.status, request.said = None, words_json(words)
        request.answer = words.say(language)[:ANSWER_BYTES]
        request.state = FAILED
        log.warning("%s %s request %d cannot be sent: %s", job.kind, job.name, request.seq, detail)

    async def _record(self, job: Job, request: Request) -> None:
        with contextlib.suppress(Exception):  # the log is for people; delivery goes on
            await self.store.request_answered(
                job.id,
                request.seq,
                request.state,
                request.attempts,
                request.status,
                request.answer,
                now_iso(),
                request.said,
            )

    def _rules(self, job: Job) -> Outbound:
        settings = self._settings()
        found = (settings.sends if job.kind == "send" else settings.calls).get(job.name)
        # Removed while a request was being tried: that request finishes by the defaults.
        return found or Outbound(url="http://removed.invalid/")

    def _removed(self, job: Job) -> bool:
        settings = self._settings()
        return job.name not in (settings.sends if job.kind == "send" else settings.calls)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        return self._client


async def _first_bytes(answer: httpx.Response, count: int, head: bytearray) -> None:
    """The first `count` bytes of the answer's body into `head`, the rest never read:
    only they are kept, and a body without end must not fill the memory. What came
    before the body was cut off stays in `head`."""
    async for chunk in answer.aiter_bytes():
        head += chunk[: count - len(head)]
        if len(head) >= count:
            break


def idempotency_key(job: Job, request: Request) -> str:
    """`JOB-SEQ`, ASCII as a header value must be: a call's job id holds its name, and
    a name's other characters (`通知`) go percent-encoded. The same at every try and
    after a restart, so a receiver takes a request sent again once."""
    key = f"{job.id}-{request.seq}"
    return key if key.isascii() else "".join(c if c.isascii() else quote(c) for c in key)


def _codec(charset: str | None) -> str:
    """The codec of an answer's charset (UTF-8 when it names none, or one unknown);
    Shift_JIS as CP932, as Japanese systems mean it."""
    name = (charset or "utf-8").lower()
    if name in ("shift_jis", "shift-jis", "sjis", "x-sjis", "windows-31j"):
        return "cp932"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "utf-8"


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, from either of its forms (seconds, or an HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(when.timestamp() - time.time(), 0.0)
    return None


def shown_url(url: str) -> str:
    """A request's URL as the run shows it (the API, `renkei show`, the console, report
    mail): a password in it as ***. The request itself goes with its own, from the job."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def request_record(job: Job, request: Request) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "run_id": job.run_id,
        "seq": request.seq,
        "kind": job.kind,
        "name": job.name,
        "method": request.method,
        "url": shown_url(request.url),
        "bytes": request.size,
        "rows": request.rows,
        "state": request.state,
        "attempts": request.attempts,
        "status": request.status,
        "answer": request.answer,
        "at": now_iso(),
    }


def _network_trouble(exc: BaseException, timeout: float) -> Words:
    """What kept a request from its answer, in words: the console, `renkei show` and the
    send's report mail show it where a receiver's answer would be, the console in its
    viewer's language (the request's `said`)."""
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return Words("outward.net.timeout", {"seconds": f"{timeout:g}"})
    if isinstance(exc, httpx.ConnectError):
        cause = OsTrouble(exc).words if os_error_in(exc) else ""
        return Words("outward.net.connect", {"detail": cause or str(exc)})
    if isinstance(exc, httpx.RemoteProtocolError):
        return Words("outward.net.protocol", {"detail": str(exc)})
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        # httpx says a reset as "ReadError: ", no text: the errno behind it says it.
        cause = OsTrouble(exc).words if os_error_in(exc) else Words("outward.net.closed")
        key = "outward.net.read" if isinstance(exc, httpx.ReadError) else "outward.net.write"
        return Words(key, {"detail": cause})
    named = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return Words("outward.net.other", {"detail": named})
