"""Account status switched in the console (稼働 / 停止), laid over the config's `status`.

An admin who stops an account in the console means it to stay stopped through restarts
and reloads, so the switch is kept in `data_dir/switches.json`, not in memory. The
config is never rewritten: where it and the console disagree, the console wins and both
are shown. Switching back to what the config says removes the switch, and the config
rules that account again. Read by the master, which serves the settings with every
switch applied (so each door, the poller and the import process see one status).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, astuple, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.settings.model import Settings
from daemon.spool.durable import replace_durably

if TYPE_CHECKING:
    from daemon.store.base import Store

log = logging.getLogger(__name__)
FILE = "switches.json"


@dataclass(frozen=True)
class Switch:
    status: str  # active | stopped
    by: str  # the console user who switched it
    at: str  # ISO 8601, UTC


class Switches:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FILE
        self._switches = self._read()
        self._store: Store | None = None

    async def share(self, store: Store) -> None:
        """From now on the switches are the shared store's (several instances): the
        ones this instance kept in its file until now are carried over first."""
        self._store = store
        kept = await store.switches_kept()
        for name, switch in self._switches.items():
            if name not in kept:
                await store.keep_switch(name, (switch.status, switch.by, switch.at))
        await self.refresh()

    async def read_shared(self, store: Store) -> None:
        """Lay the shared store's switches over those of this data_dir's file, for a
        command's view: nothing is carried over or written, as `share` would."""
        kept = await store.switches_kept()
        self._switches.update((name, Switch(*fields)) for name, fields in kept.items())

    async def refresh(self) -> bool:
        """Read the shared switches again; whether another instance changed any."""
        if self._store is None:
            return False
        kept = {
            name: Switch(*fields) for name, fields in (await self._store.switches_kept()).items()
        }
        changed = kept != self._switches
        self._switches = kept
        return changed

    def held(self) -> dict[str, Switch]:
        """The switches as they are now, to put back (restore) when a reload that
        applied a config fails and the config before it goes on serving."""
        return dict(self._switches)

    def restore(self, held: dict[str, Switch]) -> None:
        """Put back the switches `held` had: those the failed config agreed with were
        forgotten, and an admin's 停止 with them."""
        if held == self._switches:
            return
        self._switches = dict(held)
        if self._store is None:
            self._write()

    def get(self, account: str) -> Switch | None:
        return self._switches.get(account)

    def apply(self, settings: Settings) -> Settings:
        """`settings` with each switched account's status replaced by its switch.

        A switch the config has come to agree with is forgotten: from then on the
        config rules that account again. So a switch kept always differs from the
        config, and the console can say what the config says."""
        agreed = [
            name
            for name, switch in self._switches.items()
            if name in settings.accounts and settings.accounts[name].status == switch.status
        ]
        if agreed:
            for name in agreed:
                del self._switches[name]
            if self._store is None:  # shared: the store's stay until switched back there
                self._write()
        return self.view(settings)

    def view(self, settings: Settings) -> Settings:
        """`settings` as the switches make them, forgetting none (a command's view,
        while the daemon keeps the file)."""
        accounts = dict(settings.accounts)
        for name, switch in self._switches.items():
            if name in accounts:
                accounts[name] = accounts[name].model_copy(update={"status": switch.status})
        return settings.model_copy(update={"accounts": accounts})

    async def set(self, account: str, status: str, configured: str, by: str, at: str) -> None:
        """Switch `account` to `status`; back to its `configured` status, forget it."""
        if status == configured:
            self._switches.pop(account, None)
        else:
            self._switches[account] = Switch(status, by, at)
        if self._store is not None:
            switch = self._switches.get(account)
            await self._store.keep_switch(account, astuple(switch) if switch else None)
        else:
            self._write()

    def _write(self) -> None:
        data = {name: asdict(switch) for name, switch in sorted(self._switches.items())}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        replace_durably(self.path, json.dumps(data, ensure_ascii=False, indent=1).encode())

    def _read(self) -> dict[str, Switch]:
        try:
            data = json.loads(self.path.read_bytes())
            return {name: Switch(**fields) for name, fields in data.items()}
        except FileNotFoundError:
            return {}
        except (ValueError, TypeError) as exc:
            # Unreadable: serve the config as written rather than refuse to start.
            log.error("%s is unreadable (%s); console switches ignored", self.path, exc)
            return {}
