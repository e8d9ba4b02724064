"""The console's account switches (稼働 / 停止), kept in the store when it is shared.

A mixin of the stores. With one instance the switches live in data_dir/switches.json
(daemon/settings/switches.py); instances sharing a store share them here, so an
account stopped in one instance's console is stopped in every instance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager


class SwitchRecords:
    writer: Any

    if TYPE_CHECKING:

        def transaction(self) -> AbstractAsyncContextManager[Any]: ...

    async def switches_kept(self) -> dict[str, tuple[str, str, str]]:
        """Each switched account's (status, by, at)."""
        rows = await self.writer.execute_fetchall(
            "SELECT account, status, by_user, at FROM account_switches"
        )
        return {account: (status, by, at) for account, status, by, at in rows}

    async def keep_switch(self, account: str, switch: tuple[str, str, str] | None) -> None:
        """Keep `account`'s switch (status, by, at), or forget it (None)."""
        async with self.transaction() as db:
            await db.execute("DELETE FROM account_switches WHERE account = ?", (account,))
            if switch is not None:
                await db.execute(
                    "INSERT INTO account_switches (account, status, by_user, at)"
                    " VALUES (?, ?, ?, ?)",
                    (account, *switch),
                )
