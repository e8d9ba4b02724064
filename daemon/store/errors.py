"""What a store says to the user when it cannot be opened: one line, no traceback.

Apart from open.py so that the CLI can catch it without loading a store."""


class StoreUnavailable(Exception):
    """The store cannot be opened (its URL's variable unset, the server unreachable)."""
