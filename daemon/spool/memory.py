"""The memory of deliveries: whether a delivery is one that came before, and its runs.

Every channel's deliveries pass through it (the intake sink asks before spooling),
with one set of rules:

- a delivery with an idempotency key (an API `Idempotency-Key`, a mail's Message-ID)
  seen within 24 hours is answered with the first delivery's run, whatever its outcome;
- a delivery that asks for it (`Delivery.by_content`) is answered with an earlier run
  of the same account, logical file, sha256 and import options only if that run is the
  LATEST run of that logical file and did not fail (nor was ignored): content A, then B,
  then A again imports A again, also when B spelled the name otherwise (`.CSV`, or
  another time under `sales_{YYYYMMDD}_*.csv`: filenames.file_key); a file whose run
  failed is imported when sent again;
- a corrected error CSV sent back (`20240516.errors.csv`) is such a delivery on every
  channel: its rows are added to the file it corrects, not put in place of an earlier
  copy's, so the same copy sent twice (a partner who got no answer, by mail with a new
  Message-ID) would add them twice;
- dry runs are never answered, and never answer.

A run row exists only once the worker takes the file, so what was spooled since is
held here; before that, and after a restart, the run history answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from daemon.settings import Settings
from daemon.spool.queue import Meta, SpoolItem, now_iso
from daemon.store.base import Store
from daemon.store.runs import RunState, options_text
from handlers.base import Delivery, SpoolUnavailable
from importers.filenames import FilenameRule, correction_name, file_key, filename_rule

log = logging.getLogger(__name__)
KEY_SECONDS = 24 * 3600
PRUNE_SECONDS = 60
_UNANSWERED = (RunState.FAILED, RunState.IGNORED)


@dataclass(frozen=True, slots=True)
class _Latest:
    run_id: str
    sha256: str
    options: str
    at: float  # time.monotonic() when spooled
    undone: bool = False  # its rows were taken back: a resend is imported again


class DeliveryMemory:
    def __init__(self, store: Store | None, digest: Callable[[str], str | None]) -> None:
        self._store = store
        # The sha256 of a spooled item's data by its id, None once it left the spool:
        # the doors spool without hashing, so an earlier delivery's is taken when a
        # file of its name comes again, not for every delivery.
        self._digest = digest
        self._keys: dict[tuple[str, str], tuple[str, float]] = {}
        self._latest: dict[tuple[str, str], _Latest] = {}
        self._turns: dict[tuple[str, ...], tuple[asyncio.Lock, int]] = {}
        self._next_prune = 0.0

    @asynccontextmanager
    async def turn(self, deliveries: Sequence[Delivery]) -> AsyncIterator[None]:
        """Hold these deliveries' names and keys from the look-up to the spool (and, on
        a shared store, to its run's record), so a resend that arrives before the first
        was answered finds the first: at this instance's other doors, and at another
        instance's (the store's door turn); SpoolUnavailable when that cannot be had."""
        names = sorted({name for d in deliveries for name in _names(d)})
        async with _all_held(self._turns, names), contextlib.AsyncExitStack() as held:
            if self._store is not None and self._store.shared:
                keys = ["door\x1f" + "\x1f".join(name) for name in names]
                try:
                    await held.enter_async_context(self._store.door_turn(keys))
                except Exception as exc:  # the store unreachable: take nothing unchecked
                    raise SpoolUnavailable(f"store: {exc}") from exc
            yield

    async def earlier(self, deliveries: Sequence[Delivery]) -> list[str] | None:
        """The runs these deliveries became when they came before, or None unless every
        one of them did."""
        if not deliveries:
            return None
        ids, by_content = [], []
        for d in deliveries:
            found, content = await self._earlier(d)
            if found is None:
                return None
            ids.append(found)
            by_content.append(content)
        for d, found, content in zip(deliveries, ids, by_content, strict=True):
            if content and d.idempotency_key:
                await self._remember_key(d, found)
        return ids

    async def _remember_key(self, d: Delivery, run_id: str) -> None:
        """A delivery answered with an earlier run of its content is spooled nowhere,
        so its key was on no run: its retry, after a newer version of the file came,
        was imported again over it. Kept here and, for after a restart, in the store."""
        self._keys[(d.account, d.idempotency_key)] = (run_id, time.monotonic())
        if self._store is not None:
            await self._store.remember_key(d.account, d.idempotency_key, run_id, now_iso())

    def remember(self, deliveries: Sequence[Delivery], spooled: Sequence[SpoolItem]) -> None:
        now = time.monotonic()
        if now >= self._next_prune:
            # Past a day the run history answers: a long-running daemon must not keep
            # a name for every file it was ever sent. Pruned now and then, not on
            # every delivery: a busy day's thousands of names are walked once a minute.
            self._next_prune = now + PRUNE_SECONDS
            self._keys = {k: v for k, v in self._keys.items() if now - v[1] < KEY_SECONDS}
            self._latest = {k: v for k, v in self._latest.items() if now - v.at < KEY_SECONDS}
        for d, item in zip(deliveries, spooled, strict=True):
            run_id = item.id
            if d.options.get("dry_run"):
                continue
            if d.idempotency_key:
                self._keys.setdefault((d.account, d.idempotency_key), (run_id, now))
            if d.filename:
                self._latest[(d.account, _key(d))] = _Latest(
                    run_id, item.meta.sha256, options_text(d.options), now
                )

    async def _earlier(self, d: Delivery) -> tuple[str | None, bool]:
        """The run `d` became when it came before, and whether it was told by its
        content (not by its key)."""
        if d.options.get("dry_run"):
            return None, False
        if d.idempotency_key:
            found = await self._by_key(d)
            if found is not None and d.channel == "mail" and not await self._same_file(d, found):
                # A mailer that reuses its Message-IDs (some stamp them by the second):
                # another file under the same id, not the mail sent again. Its own key
                # finds it when it is the one sent again.
                log.warning(
                    "mail %s for %s: another file than run %s's, under its Message-ID;"
                    " taken as a new mail",
                    d.idempotency_key,
                    d.account,
                    found,
                )
                d.idempotency_key += ":" + (await asyncio.to_thread(content_digest, d))[:16]
                found = await self._by_key(d)
            if found is not None or not d.by_content:
                return found, False
        if d.by_content:
            return await self._by_content(d), True
        return None, False

    async def _by_key(self, d: Delivery) -> str | None:
        hit = self._keys.get((d.account, d.idempotency_key))
        if hit is not None and time.monotonic() - hit[1] < KEY_SECONDS:
            return hit[0]
        if self._store is None:
            return None
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=KEY_SECONDS)
        return await self._store.run_by_key(d.account, d.idempotency_key, since.isoformat())

    async def _by_content(self, d: Delivery) -> str | None:
        latest = await self._latest_of(d)
        if latest is None or latest.undone or latest.options != options_text(d.options):
            return None
        earlier = latest.sha256 or await self._digest_of(latest.run_id)
        # Off the loop: a file of megabytes takes milliseconds to hash.
        if earlier is None or earlier != await asyncio.to_thread(content_digest, d):
            return None
        # No run row yet means it still waits in the spool: that counts as not failed.
        state = await self._store.run_state(latest.run_id) if self._store else None
        return None if state in _UNANSWERED else latest.run_id

    async def _same_file(self, d: Delivery, run_id: str) -> bool:
        """Whether `run_id` took the very file `d` holds (its bytes); True when that
        cannot be told, as a resend was answered before."""
        if d.data is None:  # a mail without a file to import: nothing to compare
            return True
        earlier = await self._digest_of(run_id)
        return earlier is None or earlier == await asyncio.to_thread(content_digest, d)

    async def _digest_of(self, run_id: str) -> str | None:
        """The sha256 of an earlier delivery spooled without one: from the spool while
        the file is there, else from its run (recorded before the file leaves). None
        when neither knows it: the file is then taken as a new one (imported again
        rather than lost)."""
        found = await asyncio.to_thread(self._digest, run_id)
        if found is None and self._store is not None:
            run = await self._store.get_run(run_id)
            found = run["sha256"] if run else None
        if not found:
            log.warning("no sha256 known for run %s: a file of its name is taken as new", run_id)
        return found or None

    async def _latest_of(self, d: Delivery) -> _Latest | None:
        """The newer of what this memory spooled last of the delivery's logical file
        and what the run history holds (a `renkei import` beside the daemon spools
        without us)."""
        account, key = d.account, _key(d)
        held = self._latest.get((account, key))
        if held is not None and time.monotonic() - held.at >= KEY_SECONDS:
            del self._latest[(account, key)]
            held = None
        row = None
        if self._store is not None:
            row = await self._store.latest_run_of_file(account, d.filename, key)
        recorded = None
        if row:
            recorded = _Latest(
                row["id"], row["sha256"], row["options"], 0.0, bool(row["undone_by"])
            )
        # Run ids sort by arrival; of one run, the history's record, which knows an undo.
        found = [x for x in (recorded, held) if x is not None]
        return max(found, key=lambda x: x.run_id) if found else None


def account_file_key(settings: Settings, account: str, name: str) -> str:
    """The logical file `name` is under the account's rule as the config has it now
    (filenames.file_key)."""
    return file_key(_rule(settings, account), name)


async def delivery_file_key(
    settings: Settings, store: Store | None, account: str, name: str
) -> str:
    """The logical file a delivery of `name` is, as resends compare it and the run
    records it; a corrected error CSV's, the file of the run that made that error CSV
    (store.corrected_file): its name does not always tell (`shop.xlsx`'s is
    `shop.errors.csv`), and a correction's own correction must find the same file."""
    key = account_file_key(settings, account, name)
    if store is not None and account_corrects(settings, account, name):
        key = await store.corrected_file(account, correction_name(name)) or key
    return key


def account_corrects(settings: Settings, account: str, name: str) -> bool:
    """Whether `name` is a corrected error CSV sent back to the account."""
    return _rule(settings, account).corrects(name)


def _rule(settings: Settings, account: str) -> FilenameRule:
    found = settings.accounts.get(account)
    return filename_rule(found.filename, found.excel) if found else filename_rule()


async def recorded_elsewhere(
    store: Store, meta: Meta, digest: Callable[[], str | None]
) -> str | None:
    """For a shared store: the run another instance recorded for the delivery an item
    holds whose own door died before recording it (and so before the sender heard it
    was accepted, and sent it again), by the rules a resend meets at a door; None when
    there is none. `digest` gives the item's sha256 when its meta holds none."""
    if meta.options.get("dry_run"):
        return None
    if meta.idempotency_key:
        # From when it came, not from now: an instance down for days still finds the
        # run another took its resend as.
        came = dt.datetime.fromisoformat(meta.received_at) if meta.received_at else None
        since = (came or dt.datetime.now(dt.UTC)) - dt.timedelta(seconds=KEY_SECONDS)
        return await store.run_by_key(meta.account, meta.idempotency_key, since.isoformat())
    if not meta.by_content:
        return None
    row = await store.latest_run_of_file(meta.account, meta.filename, meta.file_key)
    if row is None or row["undone_by"] or row["options"] != options_text(meta.options):
        return None
    if RunState(row["state"]) in _UNANSWERED:
        return None
    sha256 = meta.sha256 or await asyncio.to_thread(digest)
    return row["id"] if sha256 and row["sha256"] == sha256 else None


def content_digest(d: Delivery) -> str:
    """The sha256 the spool will record for the delivery's file."""
    if isinstance(d.data, bytes):
        return hashlib.sha256(d.data).hexdigest()
    if isinstance(d.data, Path):
        digest = hashlib.sha256()
        with open(d.data, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        return digest.hexdigest()
    return ""


def _key(d: Delivery) -> str:
    """The delivery's logical file (set by the sink), or its name where none is set."""
    return d.file_key or d.filename


def _names(d: Delivery) -> list[tuple[str, ...]]:
    """What a delivery holds while it is looked up and spooled: its logical file (so
    that two spellings of one file take turns) and its key."""
    names = [("file", d.account, _key(d))]
    if d.idempotency_key:
        names.append(("key", d.account, d.idempotency_key))
    return names


@asynccontextmanager
async def _all_held(
    turns: dict[tuple[str, ...], tuple[asyncio.Lock, int]], names: list[tuple[str, ...]]
) -> AsyncIterator[None]:
    """Hold the lock of every name, taken in sorted order so two holders never deadlock."""
    registered: list[tuple[str, ...]] = []
    acquired: list[asyncio.Lock] = []
    try:
        for name in names:
            lock, users = turns.get(name, (asyncio.Lock(), 0))
            turns[name] = (lock, users + 1)
            registered.append(name)
            await lock.acquire()
            acquired.append(lock)
        yield
    finally:
        for lock in acquired:
            lock.release()
        for name in registered:
            lock, users = turns[name]
            if users == 1:
                del turns[name]
            else:
                turns[name] = (lock, users - 1)
