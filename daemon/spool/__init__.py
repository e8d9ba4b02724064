"""The spool: the durable queue between the doors and the worker.

queue.py    spooled files: tmp → fsync → rename, claims, recovery, quarantine
sink.py     the daemon's side of the intake contract (handlers/base.py)
memory.py   the one memory of deliveries, which answers a resend with its runs
durable.py  write, fsync, rename
"""
